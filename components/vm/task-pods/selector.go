package main

import (
	"fmt"
	"strings"
)

// Label and field selectors: the equality subset (k=v, k==v, k!=v, k, !k).
// Set-based terms (in, notin) are refused rather than misread.

type requirement struct {
	key, value string
	op         string // "=", "!=", "exists", "!exists"
}

// selector matches pods by labels and by a few fields.
type selector struct {
	labels, fields []requirement
}

var selectableFields = map[string]func(*Pod) string{
	"metadata.name":      func(p *Pod) string { return p.Metadata.Name },
	"metadata.namespace": func(p *Pod) string { return p.Metadata.Namespace },
	"status.phase":       func(p *Pod) string { return p.Status.Phase },
}

func parseSelector(labelSelector, fieldSelector string) (*selector, error) {
	s := &selector{}
	for term := range strings.SplitSeq(labelSelector, ",") {
		term = strings.TrimSpace(term)
		if term == "" {
			continue
		}
		r, err := parseTerm(term, true)
		if err != nil {
			return nil, fmt.Errorf("unable to parse requirement: %w", err)
		}
		s.labels = append(s.labels, r)
	}
	for term := range strings.SplitSeq(fieldSelector, ",") {
		term = strings.TrimSpace(term)
		if term == "" {
			continue
		}
		r, err := parseTerm(term, false)
		if err != nil {
			return nil, fmt.Errorf("invalid field selector: %w", err)
		}
		if selectableFields[r.key] == nil {
			return nil, fmt.Errorf("field label not supported: %s", r.key)
		}
		s.fields = append(s.fields, r)
	}
	return s, nil
}

func parseTerm(term string, label bool) (requirement, error) {
	var r requirement
	switch {
	case strings.Contains(term, "!="):
		r.key, r.value, _ = strings.Cut(term, "!=")
		r.op = "!="
	case strings.Contains(term, "=="):
		r.key, r.value, _ = strings.Cut(term, "==")
		r.op = "="
	case strings.Contains(term, "="):
		r.key, r.value, _ = strings.Cut(term, "=")
		r.op = "="
	case label && strings.HasPrefix(term, "!"):
		r.key, r.op = term[1:], "!exists"
	case label:
		r.key, r.op = term, "exists"
	default:
		return r, fmt.Errorf("%q: expected an operator", term)
	}
	r.key, r.value = strings.TrimSpace(r.key), strings.TrimSpace(r.value)
	if !validSelectorToken(r.key, true) || !validSelectorToken(r.value, false) {
		return r, fmt.Errorf("%q: only key=value, key==value, key!=value, key and !key are supported", term)
	}
	return r, nil
}

func validSelectorToken(s string, key bool) bool {
	if key && s == "" {
		return false
	}
	for _, c := range s {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.' || key && c == '/'
		if !ok {
			return false
		}
	}
	return true
}

func (s *selector) matches(p *Pod) bool {
	for _, r := range s.labels {
		v, ok := p.Metadata.Labels[r.key]
		if !r.match(v, ok) {
			return false
		}
	}
	for _, r := range s.fields {
		if !r.match(selectableFields[r.key](p), true) {
			return false
		}
	}
	return true
}

func (r requirement) match(v string, present bool) bool {
	switch r.op {
	case "=":
		return present && v == r.value
	case "!=":
		return !present || v != r.value
	case "exists":
		return present
	default:
		return !present
	}
}
