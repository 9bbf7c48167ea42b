// Package tandem holds Tandem's domain: workspaces, applications, workflows,
// verifications, and the error vocabulary shared by every adapter. It imports
// no infrastructure; the store, the HTTP surfaces and the command wire it up.
package tandem

import (
	"errors"
	"fmt"
	"strings"
)

// Error codes. Each maps to one HTTP status and problem type in the HTTP
// adapters.
const (
	EINVALID      = "invalid"      // malformed or semantically wrong input (400/422)
	ENOTFOUND     = "not_found"    // no such resource, or not visible to the caller (404)
	ECONFLICT     = "conflict"     // state or version conflict (409)
	EUNAUTHORIZED = "unauthorized" // missing or wrong credentials (401)
	EFORBIDDEN    = "forbidden"    // authenticated but refused (403)
	EGONE         = "gone"         // expired or used up (410)
	ERATELIMIT    = "rate_limited" // too many requests (429)
	EUNAVAILABLE  = "unavailable"  // a dependency is down (503)
	EINTERNAL     = "internal"     // a bug or an infrastructure failure (500)
)

// Error is an application error: a code and a message that is safe to show to
// the caller. Fields carries per-field problems for EINVALID. The internal
// cause of a failure is never put in Message; wrap it instead and log it.
type Error struct {
	Code    string
	Message string
	Fields  []FieldError
	// Reason is an optional machine-readable refinement of Code, e.g.
	// "challenge_used" for a device request; clients branch on it.
	Reason string
}

// FieldError names one field of the input (a JSON path such as
// "workflows[0].modules[1].configs.distance_m") and what is wrong with it.
type FieldError struct {
	Path    string `json:"location"`
	Message string `json:"message"`
}

func (e FieldError) Error() string {
	if e.Path == "" {
		return e.Message
	}
	return e.Path + ": " + e.Message
}

func (e *Error) Error() string {
	if len(e.Fields) == 0 {
		return fmt.Sprintf("tandem error: code=%s message=%s", e.Code, e.Message)
	}
	parts := make([]string, len(e.Fields))
	for i, f := range e.Fields {
		parts[i] = f.Error()
	}
	return fmt.Sprintf("tandem error: code=%s message=%s fields=[%s]", e.Code, e.Message, strings.Join(parts, "; "))
}

// Errorf returns an *Error with the given code and a formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Invalid returns an EINVALID error carrying field errors. It returns nil when
// fields is empty, so callers can write `return tandem.Invalid(msg, errs)`.
func Invalid(message string, fields []FieldError) error {
	if len(fields) == 0 {
		return nil
	}
	return &Error{Code: EINVALID, Message: message, Fields: fields}
}

// ErrorCode returns the code of the first *Error in err's chain, EINTERNAL
// for any other non-nil error, and "" for nil.
func ErrorCode(err error) string {
	var e *Error
	if err == nil {
		return ""
	} else if errors.As(err, &e) {
		return e.Code
	}
	return EINTERNAL
}

// ErrorMessage returns the safe message of the first *Error in err's chain,
// or a generic text for any other error.
func ErrorMessage(err error) string {
	var e *Error
	if err == nil {
		return ""
	} else if errors.As(err, &e) {
		return e.Message
	}
	return "Internal error."
}

// ErrorFields returns the field errors of the first *Error in err's chain.
func ErrorFields(err error) []FieldError {
	var e *Error
	if errors.As(err, &e) {
		return e.Fields
	}
	return nil
}

// ErrorMessageOr returns the safe message of a *tandem.Error in err's chain,
// or err's own text. It is for command-line output, where the operator may
// see internal causes.
func ErrorMessageOr(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	return err.Error()
}

// Refusef returns an *Error with a code, a machine-readable reason and a
// formatted message.
func Refusef(code, reason, format string, args ...any) *Error {
	return &Error{Code: code, Reason: reason, Message: fmt.Sprintf(format, args...)}
}

// ErrorReason returns the Reason of the first *Error in err's chain.
func ErrorReason(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Reason
	}
	return ""
}

// HTTPStatus returns the HTTP status that answers an error with code:
// EINVALID is 400; the typed JSON APIs answer a well-formed but
// semantically invalid body with 422 instead.
func HTTPStatus(code string) int {
	switch code {
	case EINVALID:
		return 400
	case ENOTFOUND:
		return 404
	case ECONFLICT:
		return 409
	case EUNAUTHORIZED:
		return 401
	case EFORBIDDEN:
		return 403
	case EGONE:
		return 410
	case ERATELIMIT:
		return 429
	case EUNAVAILABLE:
		return 503
	}
	return 500
}
