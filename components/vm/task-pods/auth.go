package main

import (
	"crypto/subtle"
	"fmt"
	"slices"
	"strings"
)

// Authentication by bearer token and an RBAC-like decision. Two kinds of
// callers exist: the app engine (TASK_PODS_TOKEN) and pods (one token each,
// which may only read that pod: the task's code must not create pods).

// identity is an authenticated caller.
type identity struct {
	user string // the user name RBAC messages quote
	pod  string // the pod a pod token belongs to; empty for the app engine
}

// attributes are what RBAC decides on.
type attributes struct {
	verb      string // get, list, watch, create, delete, deletecollection, update, patch
	resource  string // pods, pods/status, pods/log
	namespace string
	name      string
}

type authenticator struct {
	namespace string
	token     string
	podToken  func(token string) (pod string, ok bool)
}

// authenticate reads "Authorization: Bearer <token>".
func (a *authenticator) authenticate(header string) (identity, bool) {
	scheme, token, ok := strings.Cut(header, " ")
	token = strings.TrimSpace(token)
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
		return identity{}, false
	}
	if a.token != "" && subtle.ConstantTimeCompare([]byte(a.token), []byte(token)) == 1 {
		return identity{user: fmt.Sprintf("system:serviceaccount:%s:app-engine", a.namespace)}, true
	}
	if pod, ok := a.podToken(token); ok {
		return identity{user: fmt.Sprintf("system:serviceaccount:%s:pod:%s", a.namespace, pod), pod: pod}, true
	}
	return identity{}, false
}

// appEngineVerbs are the app engine's grants on pods in the namespace.
var appEngineVerbs = map[string][]string{
	"pods":        {"get", "list", "watch", "create", "delete", "deletecollection"},
	"pods/status": {"get"},
	"pods/log":    {"get"},
}

// authorize answers as RBAC would, with the API server's Forbidden wording.
func authorize(namespace string, id identity, at attributes) error {
	if at.namespace == namespace {
		if id.pod == "" && slices.Contains(appEngineVerbs[at.resource], at.verb) {
			return nil
		}
		if id.pod != "" && id.pod == at.name && at.verb == "get" && (at.resource == "pods" || at.resource == "pods/status") {
			return nil
		}
	}
	subject := "pods"
	if at.name != "" {
		subject = fmt.Sprintf("pods %q", at.name)
	}
	return forbidden("%s is forbidden: User %q cannot %s resource %q in API group \"\" in the namespace %q",
		subject, id.user, at.verb, at.resource, at.namespace)
}
