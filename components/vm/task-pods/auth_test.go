package main

import (
	"errors"
	"testing"
)

func testAuthenticator(t *testing.T) *authenticator {
	t.Helper()
	return &authenticator{namespace: "tasks", token: "engine-secret", podToken: func(tok string) (string, bool) {
		if tok == "pod-a-secret" {
			return "pod-a", true
		}
		return "", false
	}}
}

func TestAuthenticate(t *testing.T) {
	a := testAuthenticator(t)
	cases := []struct {
		header string
		ok     bool
		user   string
		pod    string
	}{
		{"Bearer engine-secret", true, "system:serviceaccount:tasks:app-engine", ""},
		{"bearer engine-secret", true, "system:serviceaccount:tasks:app-engine", ""},
		{"Bearer pod-a-secret", true, "system:serviceaccount:tasks:pod:pod-a", "pod-a"},
		{"Bearer wrong", false, "", ""},
		{"Bearer ", false, "", ""},
		{"Basic engine-secret", false, "", ""},
		{"", false, "", ""},
	}
	for _, c := range cases {
		id, ok := a.authenticate(c.header)
		if ok != c.ok || id.user != c.user || id.pod != c.pod {
			t.Errorf("authenticate(%q) = %+v, %v", c.header, id, ok)
		}
	}
}

func TestAuthenticateEmptyToken(t *testing.T) {
	a := testAuthenticator(t)
	a.token = ""
	for _, h := range []string{"Bearer ", "Bearer x"} {
		if _, ok := a.authenticate(h); ok {
			t.Errorf("an empty token must not let anyone in (%q)", h)
		}
	}
}

func TestAuthorizationMatrix(t *testing.T) {
	engine := identity{user: "system:serviceaccount:tasks:app-engine"}
	podA := identity{user: "system:serviceaccount:tasks:pod:pod-a", pod: "pod-a"}
	cases := []struct {
		who     identity
		at      attributes
		allowed bool
	}{
		{engine, attributes{"list", "pods", "tasks", ""}, true},
		{engine, attributes{"watch", "pods", "tasks", ""}, true},
		{engine, attributes{"create", "pods", "tasks", ""}, true},
		{engine, attributes{"get", "pods", "tasks", "pod-b"}, true},
		{engine, attributes{"get", "pods/status", "tasks", "pod-b"}, true},
		{engine, attributes{"get", "pods/log", "tasks", "pod-b"}, true},
		{engine, attributes{"delete", "pods", "tasks", "pod-b"}, true},
		{engine, attributes{"deletecollection", "pods", "tasks", ""}, true},
		{engine, attributes{"update", "pods", "tasks", "pod-b"}, false},
		{engine, attributes{"patch", "pods/status", "tasks", "pod-b"}, false},
		{engine, attributes{"list", "pods", "default", ""}, false},
		{engine, attributes{"get", "pods", "kube-system", "x"}, false},
		{podA, attributes{"get", "pods", "tasks", "pod-a"}, true},
		{podA, attributes{"get", "pods/status", "tasks", "pod-a"}, true},
		{podA, attributes{"get", "pods/log", "tasks", "pod-a"}, false},
		{podA, attributes{"get", "pods", "tasks", "pod-b"}, false},
		{podA, attributes{"get", "pods/status", "tasks", "pod-b"}, false},
		{podA, attributes{"list", "pods", "tasks", ""}, false},
		{podA, attributes{"watch", "pods", "tasks", ""}, false},
		{podA, attributes{"create", "pods", "tasks", ""}, false},
		{podA, attributes{"delete", "pods", "tasks", "pod-a"}, false},
		{podA, attributes{"get", "pods", "other", "pod-a"}, false},
	}
	for _, c := range cases {
		err := authorize("tasks", c.who, c.at)
		if (err == nil) != c.allowed {
			t.Errorf("%s %+v: err = %v, want allowed=%v", c.who.user, c.at, err, c.allowed)
		}
		var ae *apiError
		if err != nil && (!errors.As(err, &ae) || ae.code != 403 || ae.reason != "Forbidden") {
			t.Errorf("%+v: not a Forbidden status: %v", c.at, err)
		}
	}
}

func TestForbiddenWording(t *testing.T) {
	err := authorize("tasks", identity{user: "system:serviceaccount:tasks:app-engine"}, attributes{"list", "pods", "default", ""})
	want := `pods is forbidden: User "system:serviceaccount:tasks:app-engine" cannot list resource "pods" in API group "" in the namespace "default"`
	if err == nil || err.Error() != want {
		t.Errorf("got %v\nwant %s", err, want)
	}
	err = authorize("tasks", identity{user: "system:serviceaccount:tasks:pod:a", pod: "a"}, attributes{"get", "pods/status", "tasks", "b"})
	want = `pods "b" is forbidden: User "system:serviceaccount:tasks:pod:a" cannot get resource "pods/status" in API group "" in the namespace "tasks"`
	if err == nil || err.Error() != want {
		t.Errorf("got %v\nwant %s", err, want)
	}
}
