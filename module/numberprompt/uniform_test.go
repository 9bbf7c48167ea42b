package numberprompt

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"math"
	"testing"
	"testing/iotest"

	"github.com/google/go-cmp/cmp"
)

// words returns a reader of the 64-bit big-endian words vs.
func words(vs ...uint64) io.Reader {
	var b bytes.Buffer
	for _, v := range vs {
		_ = binary.Write(&b, binary.BigEndian, v)
	}
	return &b
}

func TestUniformRejection(t *testing.T) {
	tests := []struct {
		name  string
		n     int
		words []uint64
		want  int
		left  int // bytes not read
	}{
		{name: "one", n: 1, words: []uint64{math.MaxUint64}, want: 0},
		// 2^64 is a multiple of 2 and 8: no value is rejected.
		{name: "power_of_two_max", n: 8, words: []uint64{math.MaxUint64}, want: 7},
		{name: "power_of_two_zero", n: 2, words: []uint64{0}, want: 0},
		// 2^64 mod 3 = 1: only MaxUint64 is rejected.
		{name: "three_accepts_below_limit", n: 3, words: []uint64{math.MaxUint64 - 1, 5}, want: 2, left: 8},
		{name: "three_rejects_max", n: 3, words: []uint64{math.MaxUint64, 5}, want: 2},
		// 2^64 mod 90 = 16: the top 16 values are rejected.
		{name: "ninety_rejects_top", n: 90, words: []uint64{math.MaxUint64 - 15, math.MaxUint64, 91}, want: 1},
		{name: "ninety_accepts_below_top", n: 90, words: []uint64{math.MaxUint64 - 16, 0}, want: int((math.MaxUint64 - 16) % 90), left: 8},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := words(tt.words...).(*bytes.Buffer)
			got, err := uniform(r, tt.n)
			if err != nil {
				t.Fatalf("uniform() error = %v", err)
			}
			if diff := cmp.Diff([]int{tt.want, tt.left}, []int{got, r.Len()}); diff != "" {
				t.Errorf("uniform() [value, bytes left] (-want +got):\n%s", diff)
			}
		})
	}
}

func TestUniformErrors(t *testing.T) {
	errDown := errors.New("no entropy")
	tests := []struct {
		name string
		r    io.Reader
		n    int
		is   error
	}{
		{"zero_n", words(1), 0, nil},
		{"negative_n", words(1), -3, nil},
		{"reader_error", iotest.ErrReader(errDown), 3, errDown},
		{"short_read", bytes.NewReader([]byte{1, 2, 3}), 3, io.ErrUnexpectedEOF},
		{"empty", bytes.NewReader(nil), 3, io.EOF},
		{"only_rejected", words(math.MaxUint64), 3, io.EOF},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := uniform(tt.r, tt.n)
			if err == nil {
				t.Fatalf("uniform() = %d, want an error", got)
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("uniform() error = %v, want it to wrap %v", err, tt.is)
			}
		})
	}
}

func TestDrawRefusesBadCount(t *testing.T) {
	for _, n := range []int{0, 91} {
		if got, err := draw(words(), 42, n); err == nil {
			t.Errorf("draw(%d) = %v, want an error", n, got)
		}
	}
}

// TestDrawAllOptions offers every two-digit number: the draw is then a
// permutation of 10–99.
func TestDrawAllOptions(t *testing.T) {
	r := iotest.OneByteReader(bytes.NewReader(bytes.Repeat([]byte{0x5a, 0xa5, 0x3c}, 8*400)))
	got, err := draw(r, 42, 90)
	if err != nil {
		t.Fatalf("draw() error = %v", err)
	}
	seen := make(map[int]bool)
	for _, v := range got {
		if v < Lowest || v > Highest || seen[v] {
			t.Fatalf("draw() = %v: %d out of range or twice", got, v)
		}
		seen[v] = true
	}
	if len(seen) != 90 {
		t.Errorf("draw() gave %d numbers, want 90", len(seen))
	}
}
