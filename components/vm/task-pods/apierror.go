package main

import (
	"fmt"
	"net/http"
)

// Status is the metav1.Status that the API server answers errors with.
type Status struct {
	Kind       string         `json:"kind"`
	APIVersion string         `json:"apiVersion"`
	Metadata   map[string]any `json:"metadata"`
	Status     string         `json:"status"`
	Message    string         `json:"message"`
	Reason     string         `json:"reason"`
	Code       int            `json:"code"`
}

// apiError is an error that knows its Status.
type apiError struct {
	code    int
	reason  string
	message string
}

func (e *apiError) Error() string { return e.message }

func (e *apiError) status() Status {
	return Status{Kind: "Status", APIVersion: "v1", Metadata: map[string]any{}, Status: "Failure",
		Message: e.message, Reason: e.reason, Code: e.code}
}

func errorf(code int, reason, format string, args ...any) *apiError {
	return &apiError{code: code, reason: reason, message: fmt.Sprintf(format, args...)}
}

func badRequest(format string, args ...any) *apiError {
	return errorf(http.StatusBadRequest, "BadRequest", format, args...)
}

func forbidden(format string, args ...any) *apiError {
	return errorf(http.StatusForbidden, "Forbidden", format, args...)
}

func notFound(name string) *apiError {
	return errorf(http.StatusNotFound, "NotFound", "pods %q not found", name)
}

func alreadyExists(name string) *apiError {
	return errorf(http.StatusConflict, "AlreadyExists", "pods %q already exists", name)
}
