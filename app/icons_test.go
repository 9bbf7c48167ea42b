package app

import (
	"bytes"
	"flag"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"testing"
)

var updateIcons = flag.Bool("update-icons", false, "rewrite static/icons/*.png from renderIcon")

// Icon colours: the app's theme colour and two rings, white and amber.
var (
	iconBlue  = color.NRGBA{0x0a, 0x2a, 0x66, 0xff}
	iconWhite = color.NRGBA{0xff, 0xff, 0xff, 0xff}
	iconAmber = color.NRGBA{0xff, 0xbf, 0x00, 0xff}
)

// renderIcon draws the app's icon: two linked rings on the theme colour.
// A maskable icon fills the square and keeps the rings inside the central
// circle of 80 % that every mask leaves visible; the other has rounded
// corners. Edges are antialiased by 4×4 supersampling. The drawing is
// deterministic, so the committed PNGs can be checked against it.
func renderIcon(size int, maskable bool) *image.NRGBA {
	img := image.NewNRGBA(image.Rect(0, 0, size, size))
	s := float64(size)
	scale := 1.0
	if maskable {
		scale = 0.75
	}
	d, r, th := 0.14*s*scale, 0.26*s*scale, 0.075*s*scale
	cx, cy := s/2, s/2
	corner := 0.18 * s
	ring := func(x, y, ox float64) bool {
		dist := math.Hypot(x-ox, y-cy)
		return dist <= r && dist >= r-th
	}
	at := func(x, y float64) color.NRGBA {
		if !maskable {
			// Rounded square: outside the corner arcs is transparent.
			qx, qy := math.Min(x, s-x), math.Min(y, s-y)
			if qx < corner && qy < corner && math.Hypot(corner-qx, corner-qy) > corner {
				return color.NRGBA{}
			}
		}
		left, right := ring(x, y, cx-d), ring(x, y, cx+d)
		switch {
		case left && right:
			// Linked: the white ring passes over the amber one at the top,
			// under it at the bottom.
			if y < cy {
				return iconWhite
			}
			return iconAmber
		case left:
			return iconWhite
		case right:
			return iconAmber
		}
		return iconBlue
	}
	const n = 4
	for py := range size {
		for px := range size {
			var rs, gs, bs, as float64
			for j := range n {
				for i := range n {
					c := at(float64(px)+(float64(i)+0.5)/n, float64(py)+(float64(j)+0.5)/n)
					a := float64(c.A) / 255
					rs, gs, bs, as = rs+float64(c.R)*a, gs+float64(c.G)*a, bs+float64(c.B)*a, as+a
				}
			}
			if as == 0 {
				continue
			}
			img.SetNRGBA(px, py, color.NRGBA{uint8(math.Round(rs / as)), uint8(math.Round(gs / as)), uint8(math.Round(bs / as)), uint8(math.Round(as / (n * n) * 255))})
		}
	}
	return img
}

// TestIcons: the committed icons are what renderIcon draws, in the sizes
// the manifest names. Run with -update-icons to write them.
func TestIcons(t *testing.T) {
	for _, tc := range []struct {
		file     string
		size     int
		maskable bool
	}{
		{"icon-192.png", 192, false},
		{"icon-512.png", 512, false},
		{"maskable-192.png", 192, true},
		{"maskable-512.png", 512, true},
	} {
		t.Run(tc.file, func(t *testing.T) {
			want := renderIcon(tc.size, tc.maskable)
			path := filepath.Join("static", "icons", tc.file)
			if *updateIcons {
				var buf bytes.Buffer
				if err := (&png.Encoder{CompressionLevel: png.BestCompression}).Encode(&buf, want); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			f, err := os.Open(path)
			if err != nil {
				t.Fatalf("open (run with -update-icons to create it): %v", err)
			}
			defer f.Close()
			got, err := png.Decode(f)
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			if got.Bounds() != want.Bounds() {
				t.Fatalf("size %v, want %v", got.Bounds(), want.Bounds())
			}
			if diff := firstDiff(got, want); diff != "" {
				t.Errorf("%s differs from renderIcon (run with -update-icons): %s", path, diff)
			}
			// A maskable icon is opaque to the edges; the other has
			// transparent corners.
			_, _, _, a := got.At(0, 0).RGBA()
			if tc.maskable != (a == 0xffff) {
				t.Errorf("corner alpha %#x; maskable %v", a, tc.maskable)
			}
		})
	}
}

func firstDiff(a, b image.Image) string {
	r := a.Bounds()
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			if color.NRGBAModel.Convert(a.At(x, y)) != color.NRGBAModel.Convert(b.At(x, y)) {
				return fmt.Sprintf("pixel (%d, %d) is %v, want %v", x, y, a.At(x, y), b.At(x, y))
			}
		}
	}
	return ""
}
