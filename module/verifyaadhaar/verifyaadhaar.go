// Package verifyaadhaar is the verify_aadhaar module: on the web side it asks
// the user for a 12-digit Aadhaar number and checks it offline (format, first
// digit and Verhoeff check digit), then with a Provider, Offline by default.
// It has no configs.
package verifyaadhaar

import (
	"errors"
	"strings"

	"github.com/tandem-id/tandem/module"
)

// Type is the module id used in workflow documents.
const Type = "verify_aadhaar"

// Claims the module produces.
const (
	ClaimNumber     = "aadhaar_number"
	ClaimVerified   = "aadhaar_verified"
	ClaimVerifiedAt = "aadhaar_verified_at"
)

// Info describes the verify_aadhaar module type, whose web step checks
// numbers offline.
func Info() module.Info { return InfoWith(Offline{}) }

// InfoWith describes the verify_aadhaar module type whose web step verifies
// numbers with p; a nil p means Offline.
func InfoWith(p Provider) module.Info {
	return module.Info{
		Type:      Type,
		Name:      "Verify Aadhaar",
		Side:      module.SideWeb,
		Claims:    []string{ClaimNumber, ClaimVerified, ClaimVerifiedAt},
		NewConfig: func() module.Config { return &module.NoConfig{} },
		Web:       Step{Provider: p},
	}
}

// Errors returned by Normalize. Their messages are safe to show to the user
// as they are.
var (
	ErrFormat     = errors.New("Enter the 12 digits of the Aadhaar number.")
	ErrFirstDigit = errors.New("An Aadhaar number never starts with 0 or 1.")
	ErrCheckDigit = errors.New("This Aadhaar number is not valid: its check digit does not match. Check for a typo.")
)

// Normalize returns the Aadhaar number typed by a user as its 12 digits. It
// ignores surrounding white space and any spaces or hyphens between digits.
// It returns ErrFormat unless exactly 12 ASCII digits remain, ErrFirstDigit
// when the first digit is 0 or 1, and ErrCheckDigit when the Verhoeff check
// digit does not match.
func Normalize(input string) (string, error) {
	s := strings.Map(func(r rune) rune {
		if r == ' ' || r == '-' {
			return -1
		}
		return r
	}, strings.TrimSpace(input))
	if len(s) != 12 {
		return "", ErrFormat
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return "", ErrFormat
		}
	}
	if s[0] == '0' || s[0] == '1' {
		return "", ErrFirstDigit
	}
	if !VerhoeffValid(s) {
		return "", ErrCheckDigit
	}
	return s, nil
}
