// Package verifypan is the verify_pan module: it asks the user for a PAN
// (India's Permanent Account Number) on the web or on the phone and checks
// its form offline, then with a Provider, Offline by default. It has no
// configs.
package verifypan

import (
	"errors"
	"strings"

	"github.com/tandem-id/tandem/module"
)

// Type is the module id used in workflow documents.
const Type = "verify_pan"

// Claims the module produces.
const (
	ClaimNumber     = "pan_number"
	ClaimVerified   = "pan_verified"
	ClaimVerifiedAt = "pan_verified_at"
)

// Info describes the verify_pan module type, whose web and device steps
// check PANs offline.
func Info() module.Info { return InfoWith(Offline{}) }

// InfoWith describes the verify_pan module type whose web and device steps
// verify PANs with p; a nil p means Offline.
func InfoWith(p Provider) module.Info {
	return module.Info{
		Type:      Type,
		Name:      "Verify PAN",
		Side:      module.SideBoth,
		Claims:    []string{ClaimNumber, ClaimVerified, ClaimVerifiedAt},
		NewConfig: func() module.Config { return &module.NoConfig{} },
		Web:       Step{Provider: p},
		Device:    Step{Provider: p},
	}
}

// HolderTypes are the letters allowed as the fourth character of a PAN, each
// naming a kind of holder: Association of persons, Body of individuals,
// Company, Firm, Government, Hindu undivided family, Local authority,
// artificial Juridical person, Person, Trust.
const HolderTypes = "ABCFGHLJPT"

// Errors returned by Normalize. Their messages are safe to show to the user
// as they are.
var (
	ErrFormat     = errors.New("Enter the 10 characters of the PAN: 5 letters, 4 digits, then 1 letter (like AAAAA9999A).")
	ErrHolderType = errors.New("The fourth letter of a PAN tells the holder type and must be one of A, B, C, F, G, H, L, J, P, T.")
)

// Normalize returns the PAN typed by a user in its canonical form: upper
// case, without spaces. It returns ErrFormat unless the result has the form
// AAAAA9999A (ASCII letters and digits only), and ErrHolderType when the
// fourth letter is not one of HolderTypes.
func Normalize(input string) (string, error) {
	// Only ASCII is upper-cased: strings.ToUpper would turn letters such as
	// U+0131 (dotless i) or U+017F (long s) into ASCII I and S.
	s := strings.Map(func(r rune) rune {
		switch {
		case r == ' ':
			return -1
		case 'a' <= r && r <= 'z':
			return r - 'a' + 'A'
		}
		return r
	}, strings.TrimSpace(input))
	if len(s) != 10 {
		return "", ErrFormat
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		isLetter := 'A' <= c && c <= 'Z'
		isDigit := '0' <= c && c <= '9'
		if (i >= 5 && i <= 8 && !isDigit) || ((i < 5 || i == 9) && !isLetter) {
			return "", ErrFormat
		}
	}
	if !strings.ContainsRune(HolderTypes, rune(s[3])) {
		return "", ErrHolderType
	}
	return s, nil
}
