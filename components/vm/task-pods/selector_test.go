package main

import "testing"

func TestSelectors(t *testing.T) {
	pod := &Pod{Metadata: ObjectMeta{Name: "add-1", Namespace: "tasks", Labels: map[string]string{"app": "task", "runId": "1"}},
		Status: PodStatus{Phase: "Running"}}
	cases := []struct {
		labels, fields string
		match          bool
	}{
		{"", "", true},
		{"app=task", "", true},
		{"app==task", "", true},
		{"app=other", "", false},
		{"app!=other", "", true},
		{"app!=task", "", false},
		{"missing!=x", "", true},
		{"app=task,runId=1", "", true},
		{"app=task, runId=2", "", false},
		{"app", "", true},
		{"!app", "", false},
		{"!missing", "", true},
		{"", "metadata.name=add-1", true},
		{"", "metadata.name==add-2", false},
		{"", "metadata.name!=add-2", true},
		{"app=task", "metadata.namespace=tasks,status.phase=Running", true},
		{"", "status.phase=Succeeded", false},
	}
	for _, c := range cases {
		sel, err := parseSelector(c.labels, c.fields)
		if err != nil {
			t.Errorf("parseSelector(%q, %q): %v", c.labels, c.fields, err)
			continue
		}
		if got := sel.matches(pod); got != c.match {
			t.Errorf("(%q, %q) matches = %v, want %v", c.labels, c.fields, got, c.match)
		}
	}
}

func TestSelectorErrors(t *testing.T) {
	for _, c := range []struct{ labels, fields string }{
		{"app in (task)", ""},
		{"app notin (a,b)", ""},
		{"=x", ""},
		{"app=a b", ""},
		{"", "spec.nodeName=x"},
		{"", "metadata.name"},
	} {
		if _, err := parseSelector(c.labels, c.fields); err == nil {
			t.Errorf("parseSelector(%q, %q) accepted", c.labels, c.fields)
		}
	}
}
