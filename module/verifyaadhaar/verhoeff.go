package verifyaadhaar

// The Verhoeff check digit scheme, built on the dihedral group D5. It detects
// every single-digit substitution and every transposition of two adjacent
// digits, which is why UIDAI uses it as the last digit of an Aadhaar number.

// verhoeffD is the multiplication table of D5.
var verhoeffD = [10][10]byte{
	{0, 1, 2, 3, 4, 5, 6, 7, 8, 9},
	{1, 2, 3, 4, 0, 6, 7, 8, 9, 5},
	{2, 3, 4, 0, 1, 7, 8, 9, 5, 6},
	{3, 4, 0, 1, 2, 8, 9, 5, 6, 7},
	{4, 0, 1, 2, 3, 9, 5, 6, 7, 8},
	{5, 9, 8, 7, 6, 0, 4, 3, 2, 1},
	{6, 5, 9, 8, 7, 1, 0, 4, 3, 2},
	{7, 6, 5, 9, 8, 2, 1, 0, 4, 3},
	{8, 7, 6, 5, 9, 3, 2, 1, 0, 4},
	{9, 8, 7, 6, 5, 4, 3, 2, 1, 0},
}

// verhoeffP is the position permutation table; row i applies to the digit at
// position i (mod 8) counted from the right, starting at 0.
var verhoeffP = [8][10]byte{
	{0, 1, 2, 3, 4, 5, 6, 7, 8, 9},
	{1, 5, 7, 6, 2, 8, 3, 0, 9, 4},
	{5, 8, 0, 3, 7, 9, 6, 1, 4, 2},
	{8, 9, 1, 6, 0, 4, 3, 5, 2, 7},
	{9, 4, 5, 3, 1, 2, 6, 8, 7, 0},
	{4, 2, 8, 6, 5, 7, 3, 9, 0, 1},
	{2, 7, 9, 3, 8, 0, 6, 4, 1, 5},
	{7, 0, 4, 6, 9, 1, 3, 2, 5, 8},
}

// verhoeffInv is the inverse of each element of D5.
var verhoeffInv = [10]byte{0, 4, 3, 2, 1, 5, 6, 7, 8, 9}

// VerhoeffValid reports whether digits, a string of ASCII digits whose last
// digit is a Verhoeff check digit, is consistent. It returns false for an
// empty string or any non-digit character.
func VerhoeffValid(digits string) bool {
	if digits == "" {
		return false
	}
	var c byte
	for i := 0; i < len(digits); i++ {
		ch := digits[len(digits)-1-i]
		if ch < '0' || ch > '9' {
			return false
		}
		c = verhoeffD[c][verhoeffP[i%8][ch-'0']]
	}
	return c == 0
}

// VerhoeffDigit returns the Verhoeff check digit of digits as an ASCII digit
// ('0' to '9'), so that digits+string(VerhoeffDigit(digits)) is valid. digits
// must be ASCII digits only (it may be empty); any other character is a
// programming error and panics.
func VerhoeffDigit(digits string) byte {
	var c byte
	for i := 0; i < len(digits); i++ {
		ch := digits[len(digits)-1-i]
		if ch < '0' || ch > '9' {
			panic("verifyaadhaar: VerhoeffDigit of a non-digit string")
		}
		c = verhoeffD[c][verhoeffP[(i+1)%8][ch-'0']]
	}
	return '0' + verhoeffInv[c]
}
