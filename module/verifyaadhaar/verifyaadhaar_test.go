package verifyaadhaar_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/tandem-id/tandem"
	"github.com/tandem-id/tandem/module"
	"github.com/tandem-id/tandem/module/verifyaadhaar"
)

// sample is the Aadhaar number of the product's sample claims.
const sample = "334108903696"

func TestVerhoeffDigit(t *testing.T) {
	tests := []struct {
		digits string
		want   byte
	}{
		{"236", '3'},
		{"12345", '1'},
		{"33410890369", '6'}, // the sample's check digit is its last digit
		{"", '0'},
		{"0", '4'}, // "04" is valid
	}
	for _, tt := range tests {
		t.Run("digits_"+tt.digits, func(t *testing.T) {
			if got := verifyaadhaar.VerhoeffDigit(tt.digits); got != tt.want {
				t.Errorf("VerhoeffDigit(%q) = %q, want %q", tt.digits, got, tt.want)
			}
		})
	}
}

func TestVerhoeffDigitPanicsOnNonDigit(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("VerhoeffDigit(\"12a\") did not panic")
		}
	}()
	verifyaadhaar.VerhoeffDigit("12a")
}

func TestVerhoeffValid(t *testing.T) {
	tests := []struct {
		name   string
		digits string
		want   bool
	}{
		{"classic", "2363", true},
		{"classic_wrong_check", "2364", false},
		{"classic_transposed", "3263", false},
		{"12345", "123451", true},
		{"12345_wrong_check", "123450", false},
		{"sample", sample, true},
		{"sample_wrong_check", "334108903697", false},
		{"zero", "0", true},
		{"empty", "", false},
		{"non_digit", "23a3", false},
		{"space", "236 3", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := verifyaadhaar.VerhoeffValid(tt.digits); got != tt.want {
				t.Errorf("VerhoeffValid(%q) = %v, want %v", tt.digits, got, tt.want)
			}
		})
	}
}

func TestNormalize(t *testing.T) {
	tests := []struct {
		name    string
		input   string
		want    string
		wantErr error
	}{
		{"sample", sample, sample, nil},
		{"sample_grouped_spaces", "3341 0890 3696", sample, nil},
		{"sample_grouped_hyphens", "3341-0890-3696", sample, nil},
		{"sample_surrounding_space", "  3341 0890 3696\n", sample, nil},
		{"empty", "", "", verifyaadhaar.ErrFormat},
		{"blank", "   ", "", verifyaadhaar.ErrFormat},
		{"eleven_digits", "33410890369", "", verifyaadhaar.ErrFormat},
		{"thirteen_digits", "3341089036966", "", verifyaadhaar.ErrFormat},
		{"letter", "33410890369A", "", verifyaadhaar.ErrFormat},
		{"inner_tab", "3341\t08903696", "", verifyaadhaar.ErrFormat},
		{"dot_separator", "3341.0890.3696", "", verifyaadhaar.ErrFormat},
		{"devanagari_digits", "३३४१०८९०३६९६", "", verifyaadhaar.ErrFormat},
		{"fullwidth_digits", "３３４１０８９０３６９６", "", verifyaadhaar.ErrFormat},
		{"starts_with_0", "0" + withCheck("1234567890"), "", verifyaadhaar.ErrFirstDigit},
		{"starts_with_1", "1" + withCheck("1234567890"), "", verifyaadhaar.ErrFirstDigit},
		{"wrong_check_digit", "334108903697", "", verifyaadhaar.ErrCheckDigit},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := verifyaadhaar.Normalize(tt.input)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Normalize(%q) error = %v, want %v", tt.input, err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("Normalize(%q) = %q, want %q", tt.input, got, tt.want)
			}
		})
	}
}

// TestNormalizeStartsWith01 makes sure the first-digit rule is checked on
// numbers whose check digit is right, so it is not the check digit refusing.
func TestNormalizeStartsWith01(t *testing.T) {
	for _, first := range []string{"0", "1"} {
		n := withCheck(first + "2345678901")
		if !verifyaadhaar.VerhoeffValid(n) {
			t.Fatalf("test setup: %s is not Verhoeff-valid", n)
		}
		if _, err := verifyaadhaar.Normalize(n); !errors.Is(err, verifyaadhaar.ErrFirstDigit) {
			t.Errorf("Normalize(%q) error = %v, want %v", n, err, verifyaadhaar.ErrFirstDigit)
		}
	}
}

func TestErrorMessages(t *testing.T) {
	got := []string{verifyaadhaar.ErrFormat.Error(), verifyaadhaar.ErrFirstDigit.Error(), verifyaadhaar.ErrCheckDigit.Error()}
	want := []string{
		"Enter the 12 digits of the Aadhaar number.",
		"An Aadhaar number never starts with 0 or 1.",
		"This Aadhaar number is not valid: its check digit does not match. Check for a typo.",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("messages (-want +got):\n%s", diff)
	}
}

// TestNormalizeRefusesTypos generates valid numbers and checks that each one
// is accepted, and that every single-digit substitution and every adjacent
// transposition of it is refused.
func TestNormalizeRefusesTypos(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	numbers := []string{sample}
	for range 200 {
		numbers = append(numbers, withCheck(fmt.Sprintf("%d%010d", 2+rng.IntN(8), rng.IntN(1e10))))
	}
	for _, n := range numbers {
		if got, err := verifyaadhaar.Normalize(n); err != nil || got != n {
			t.Fatalf("Normalize(%q) = %q, %v; want it accepted", n, got, err)
		}
		for i := range len(n) {
			for d := byte('0'); d <= '9'; d++ {
				if d == n[i] {
					continue
				}
				typo := n[:i] + string(d) + n[i+1:]
				if _, err := verifyaadhaar.Normalize(typo); err == nil {
					t.Errorf("Normalize(%q) accepted a substitution at %d of %q", typo, i, n)
				}
			}
		}
		for i := range len(n) - 1 {
			if n[i] == n[i+1] {
				continue // swapping equal digits gives the same number
			}
			typo := n[:i] + string(n[i+1]) + string(n[i]) + n[i+2:]
			if _, err := verifyaadhaar.Normalize(typo); err == nil {
				t.Errorf("Normalize(%q) accepted a transposition at %d of %q", typo, i, n)
			}
		}
	}
}

func TestDecodeConfig(t *testing.T) {
	reg := module.NewRegistry(verifyaadhaar.Info())
	tests := []struct {
		name string
		raw  string
		want []tandem.FieldError
	}{
		{"absent", "", nil},
		{"null", "null", nil},
		{"empty_object", "{}", nil},
		{"unknown_field", `{"provider":"uidai"}`, []tandem.FieldError{{Path: "provider", Message: `unknown field "provider"`}}},
		{"not_an_object", `"x"`, []tandem.FieldError{{Message: "must be an object, not a string"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, got := reg.DecodeConfig(verifyaadhaar.Type, json.RawMessage(tt.raw))
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("DecodeConfig(%s) errors (-want +got):\n%s", tt.raw, diff)
			}
			if tt.want == nil {
				if _, ok := cfg.(*module.NoConfig); !ok {
					t.Errorf("DecodeConfig(%s) config = %T, want *module.NoConfig", tt.raw, cfg)
				}
			}
		})
	}
}

func TestInfo(t *testing.T) {
	in := verifyaadhaar.Info()
	got := []any{in.Type, in.Name, in.Side, in.Claims}
	want := []any{"verify_aadhaar", "Verify Aadhaar", module.SideWeb, []string{"aadhaar_number", "aadhaar_verified", "aadhaar_verified_at"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Info (-want +got):\n%s", diff)
	}
}

func withCheck(digits string) string {
	return digits + string(verifyaadhaar.VerhoeffDigit(digits))
}
