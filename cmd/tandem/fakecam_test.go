package main

// A fake camera for browser tests of the phone app: an image (typically the
// QR code a desktop page shows) is written as a YUV4MPEG2 video, and a
// headless chromium that emulates a phone plays it as its only camera.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
	"github.com/google/go-cmp/cmp"
	"github.com/makiuchi-d/gozxing"
	zxingqr "github.com/makiuchi-d/gozxing/qrcode"
	"github.com/skip2/go-qrcode"

	"github.com/tandem-id/tandem/authenticator"
)

// The fake camera's frame: VGA, the size a phone camera offers by default
// to getUserMedia({video: true}), with at least fakeCamQuiet white pixels
// around the image.
const (
	fakeCamWidth  = 640
	fakeCamHeight = 480
	fakeCamQuiet  = 32
)

// writeY4M writes img as a YUV4MPEG2 video of frames identical frames (10
// frames a second; chromium loops the file) for chromium's
// --use-file-for-fake-video-capture.
//
// Every frame is fakeCamWidth×fakeCamHeight (even sizes, as 4:2:0 needs),
// white, with img centred in it, as large as fits with at least
// fakeCamQuiet white pixels on every side (a 256 px QR code becomes
// 416 px). img is scaled up or down by nearest neighbour, so a QR code's
// modules stay sharp edged (their widths may differ by a pixel, which
// scanners do not mind). Transparent pixels are laid over white. Colours
// are converted with BT.601 full range (JFIF, as C420jpeg promises);
// chroma is the mean of each 2×2 block.
//
// It returns an error when frames < 1, img is empty, or the file cannot be
// written.
func writeY4M(path string, img image.Image, frames int) error {
	if frames < 1 {
		return fmt.Errorf("write %s: %d frames, want at least 1", path, frames)
	}
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	if w <= 0 || h <= 0 {
		return fmt.Errorf("write %s: the image is empty", path)
	}
	const W, H = fakeCamWidth, fakeCamHeight
	availW, availH := W-2*fakeCamQuiet, H-2*fakeCamQuiet
	scale := min(float64(availW)/float64(w), float64(availH)/float64(h))
	dw, dh := max(1, int(float64(w)*scale)), max(1, int(float64(h)*scale))
	ox, oy := (W-dw)/2, (H-dh)/2

	// Full-resolution planes; the background is white (Y 255, Cb = Cr = 128).
	yp, cbp, crp := make([]byte, W*H), make([]byte, W*H), make([]byte, W*H)
	for i := range yp {
		yp[i], cbp[i], crp[i] = 255, 128, 128
	}
	for y := range dh {
		sy := b.Min.Y + (2*y+1)*h/(2*dh) // the source pixel under the centre of this one
		for x := range dw {
			sx := b.Min.X + (2*x+1)*w/(2*dw)
			r, g, bl, a := img.At(sx, sy).RGBA() // alpha-premultiplied, 16 bits
			over := 0xffff - a                   // lay over white
			Y, cb, cr := color.RGBToYCbCr(uint8((r+over)>>8), uint8((g+over)>>8), uint8((bl+over)>>8))
			i := (oy+y)*W + ox + x
			yp[i], cbp[i], crp[i] = Y, cb, cr
		}
	}
	sub := func(p []byte) []byte {
		out := make([]byte, 0, W*H/4)
		for y := 0; y < H; y += 2 {
			for x := 0; x < W; x += 2 {
				s := int(p[y*W+x]) + int(p[y*W+x+1]) + int(p[(y+1)*W+x]) + int(p[(y+1)*W+x+1])
				out = append(out, byte((s+2)/4))
			}
		}
		return out
	}
	up, vp := sub(cbp), sub(crp)

	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("write the video: %w", err)
	}
	bw := bufio.NewWriter(f)
	fmt.Fprintf(bw, "YUV4MPEG2 W%d H%d F10:1 Ip A1:1 C420jpeg\n", W, H)
	for range frames {
		bw.WriteString("FRAME\n")
		bw.Write(yp)
		bw.Write(up)
		bw.Write(vp)
	}
	if err := errors.Join(bw.Flush(), f.Close()); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// y4mVideo is a YUV4MPEG2 file read back by readY4M.
type y4mVideo struct {
	header string
	w, h   int
	frames [][]byte // each the Y, U and V planes, in that order
}

// readY4M parses a 4:2:0 YUV4MPEG2 file (only the tags writeY4M writes
// matter: W and H).
func readY4M(path string) (*y4mVideo, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	header, rest, ok := bytes.Cut(data, []byte("\n"))
	if !ok || !bytes.HasPrefix(header, []byte("YUV4MPEG2 ")) {
		return nil, errors.New("not a YUV4MPEG2 file")
	}
	v := &y4mVideo{header: string(header)}
	for _, tag := range strings.Fields(v.header)[1:] {
		switch tag[0] {
		case 'W':
			fmt.Sscan(tag[1:], &v.w)
		case 'H':
			fmt.Sscan(tag[1:], &v.h)
		}
	}
	if v.w <= 0 || v.h <= 0 || v.w%2 != 0 || v.h%2 != 0 {
		return nil, fmt.Errorf("frame size %dx%d", v.w, v.h)
	}
	size := v.w*v.h + 2*(v.w/2)*(v.h/2)
	for len(rest) > 0 {
		if !bytes.HasPrefix(rest, []byte("FRAME\n")) || len(rest) < 6+size {
			return nil, fmt.Errorf("frame %d is malformed or short", len(v.frames))
		}
		v.frames = append(v.frames, rest[6:6+size])
		rest = rest[6+size:]
	}
	return v, nil
}

// luma returns the Y plane of frame i as a grey image.
func (v *y4mVideo) luma(i int) *image.Gray {
	return &image.Gray{Pix: v.frames[i][:v.w*v.h], Stride: v.w, Rect: image.Rect(0, 0, v.w, v.h)}
}

// chroma returns the U and V samples that cover pixel (x, y) of frame i.
func (v *y4mVideo) chroma(i, x, y int) (u, vv byte) {
	cw, ch := v.w/2, v.h/2
	f := v.frames[i][v.w*v.h:]
	return f[(y/2)*cw+x/2], f[cw*ch+(y/2)*cw+x/2]
}

// phoneUserAgent is a current Android Chrome's (reduced) User-Agent.
const phoneUserAgent = "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36"

// newPhoneBrowser starts a headless chromium with a fresh profile that
// looks like a phone to the page: a 390×844 portrait viewport at device
// scale 3, mobile and touch emulation, an Android Chrome User-Agent (also
// in navigator.userAgentData). The emulation covers the context's first
// tab, the one the returned context drives.
//
// When videoFile is not "" (a Y4M file, see writeY4M, that must exist for
// as long as the browser runs) the browser has one camera that plays it,
// and camera and microphone permission prompts are accepted without asking.
// When it is "", the browser has no camera.
//
// Geolocation is denied until setGeolocation grants it. The browser is
// stopped by t.Cleanup; the context times out after 90 s. Like newBrowser,
// it skips the test when there is no chromium, or fails it under CI=true.
func newPhoneBrowser(t *testing.T, videoFile string) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(browserPath(t)),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.WindowSize(390, 844),
		chromedp.UserAgent(phoneUserAgent),
	)
	if videoFile != "" {
		opts = append(opts,
			chromedp.Flag("use-fake-ui-for-media-stream", true),
			chromedp.Flag("use-fake-device-for-media-stream", true),
			chromedp.Flag("use-file-for-fake-video-capture", videoFile),
		)
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	ctx, cancelTimeout := context.WithTimeout(ctx, 90*time.Second)
	t.Cleanup(func() { cancelTimeout(); cancel(); cancelAlloc() })
	ua := emulation.SetUserAgentOverrideParams{
		UserAgent: phoneUserAgent,
		Platform:  "Linux armv8l",
		UserAgentMetadata: &emulation.UserAgentMetadata{
			Brands:   []*emulation.UserAgentBrandVersion{{Brand: "Chromium", Version: "131"}, {Brand: "Google Chrome", Version: "131"}},
			Platform: "Android", PlatformVersion: "10", Model: "K", Mobile: true,
		},
	}
	if err := chromedp.Do(ctx,
		chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
			_, err := cdp.Call(ctx, t, emulation.SetUserAgentOverride, ua)
			return err
		}),
		chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(3), chromedp.EmulateMobile, chromedp.EmulateTouch, chromedp.EmulatePortrait),
	); err != nil {
		t.Fatalf("start chromium as a phone: %v", err)
	}
	return ctx
}

// setGeolocation grants geolocation to every origin in the browser of ctx
// and puts the phone at (lat, lon), accuracy in metres. Call moveTo to move
// it afterwards.
func setGeolocation(ctx context.Context, lat, lon, accuracy float64) error {
	if _, err := chromedp.CallBrowser(ctx, browser.SetPermission, browser.SetPermissionParams{
		Permission: &browser.PermissionDescriptor{Name: "geolocation"}, Setting: browser.PermissionSettingGranted,
	}); err != nil {
		return fmt.Errorf("grant geolocation: %w", err)
	}
	if err := chromedp.Do(ctx, moveTo(lat, lon, accuracy)); err != nil {
		return fmt.Errorf("override geolocation: %w", err)
	}
	return nil
}

// moveTo is an action that overrides the tab's position (accuracy in
// metres); it does not grant the permission (see setGeolocation).
func moveTo(lat, lon, accuracy float64) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := cdp.Call(ctx, t, emulation.SetGeolocationOverride, emulation.SetGeolocationOverrideParams{Latitude: &lat, Longitude: &lon, Accuracy: &accuracy})
		return err
	})
}

// decodeQRGray reads a QR code from a grey image with gozxing.
func decodeQRGray(img image.Image) (string, error) {
	bmp, err := gozxing.NewBinaryBitmapFromImage(img)
	if err != nil {
		return "", err
	}
	res, err := zxingqr.NewQRCodeReader().Decode(bmp, map[gozxing.DecodeHintType]any{gozxing.DecodeHintType_TRY_HARDER: true})
	if err != nil {
		return "", err
	}
	return res.GetText(), nil
}

// TestFakeCameraY4M checks writeY4M's file without a browser: the header,
// the frame count, the colour conversion, the white margin, the sharp
// modules, and that the QR code still reads from the luma plane.
func TestFakeCameraY4M(t *testing.T) {
	t.Run("colours", func(t *testing.T) {
		for _, tc := range []struct {
			name      string
			c         color.Color
			y, cb, cr byte
		}{
			// BT.601 full range: Y = .299R + .587G + .114B,
			// Cb = 128 - .168736R - .331264G + .5B, Cr = 128 + .5R - .418688G - .081312B.
			{"white", color.White, 255, 128, 128},
			{"black", color.Black, 0, 128, 128},
			{"red", color.RGBA{255, 0, 0, 255}, 76, 85, 255},
			{"green", color.RGBA{0, 255, 0, 255}, 150, 44, 21},
			{"blue", color.RGBA{0, 0, 255, 255}, 29, 255, 107},
			{"transparent", color.Transparent, 255, 128, 128},
			{"half-transparent-black", color.NRGBA{0, 0, 0, 128}, 127, 128, 128},
		} {
			t.Run(tc.name, func(t *testing.T) {
				img := image.NewNRGBA(image.Rect(0, 0, 10, 6))
				for y := range 6 {
					for x := range 10 {
						img.Set(x, y, tc.c)
					}
				}
				path := filepath.Join(t.TempDir(), "c.y4m")
				if err := writeY4M(path, img, 3); err != nil {
					t.Fatal(err)
				}
				v, err := readY4M(path)
				if err != nil {
					t.Fatal(err)
				}
				if want := "YUV4MPEG2 W640 H480 F10:1 Ip A1:1 C420jpeg"; v.header != want {
					t.Errorf("header %q, want %q", v.header, want)
				}
				if len(v.frames) != 3 {
					t.Errorf("%d frames, want 3", len(v.frames))
				}
				type pix struct{ Y, Cb, Cr byte }
				// The 10×6 image, scaled by 57.6 to fit 576×416, is 576×345 at (32, 67).
				u, vv := v.chroma(2, 320, 240)
				if diff := cmp.Diff(pix{tc.y, tc.cb, tc.cr}, pix{v.luma(2).GrayAt(320, 240).Y, u, vv}); diff != "" {
					t.Errorf("centre pixel (-want +got):\n%s", diff)
				}
				// Chroma blocks wholly in the margin are white.
				for _, p := range []image.Point{{30, 240}, {608, 240}, {320, 65}, {320, 412}, {0, 0}, {639, 479}} {
					u, vv := v.chroma(0, p.X, p.Y)
					if got := (pix{v.luma(0).GrayAt(p.X, p.Y).Y, u, vv}); got != (pix{255, 128, 128}) {
						t.Errorf("margin pixel %v = %+v, want white", p, got)
					}
				}
				// The image's edges, in luma, are where they should be.
				for _, tt := range []struct {
					p image.Point
					y byte
				}{{image.Pt(31, 240), 255}, {image.Pt(32, 240), tc.y}, {image.Pt(607, 240), tc.y}, {image.Pt(608, 240), 255},
					{image.Pt(320, 66), 255}, {image.Pt(320, 67), tc.y}, {image.Pt(320, 411), tc.y}, {image.Pt(320, 412), 255}} {
					if y := v.luma(0).GrayAt(tt.p.X, tt.p.Y).Y; y != tt.y {
						t.Errorf("pixel %v: Y %d, want %d", tt.p, y, tt.y)
					}
				}
			})
		}
	})

	const url = "https://tandem.example/d/tqr_0123456789abcdefghijklmnopqrstuvwxyz"
	t.Run("qr", func(t *testing.T) {
		for _, tc := range []struct {
			name string
			size int // of the QR PNG, in pixels
		}{
			{"small", 100},  // scaled up by 4.16
			{"medium", 256}, // scaled up by 1.625
			{"large", 1200}, // scaled down
		} {
			t.Run(tc.name, func(t *testing.T) {
				pngBytes, err := qrcode.Encode(url, qrcode.Medium, tc.size)
				if err != nil {
					t.Fatal(err)
				}
				img, err := png.Decode(bytes.NewReader(pngBytes))
				if err != nil {
					t.Fatal(err)
				}
				if img.Bounds().Dx() != tc.size {
					t.Fatalf("go-qrcode made a %d px image, want %d", img.Bounds().Dx(), tc.size)
				}
				path := filepath.Join(t.TempDir(), "qr.y4m")
				if err := writeY4M(path, img, 1); err != nil {
					t.Fatal(err)
				}
				v, err := readY4M(path)
				if err != nil {
					t.Fatal(err)
				}
				luma := v.luma(0)
				// The code's dark modules are centred, large, and clear of
				// the margin.
				dark := image.Rectangle{}
				for y := range v.h {
					for x := range v.w {
						if luma.GrayAt(x, y).Y < 128 {
							dark = dark.Union(image.Rect(x, y, x+1, y+1))
						}
					}
				}
				frame := image.Rect(fakeCamQuiet, fakeCamQuiet, v.w-fakeCamQuiet, v.h-fakeCamQuiet)
				// go-qrcode's margins may differ by a source pixel: allow
				// that much, scaled, off the centre.
				tol := (frame.Dy()+tc.size-1)/tc.size + 2
				cx, cy := dark.Min.X+dark.Max.X-v.w, dark.Min.Y+dark.Max.Y-v.h // twice the offset from the centre
				if !dark.In(frame) || dark.Dx() < 250 || dark.Dx() != dark.Dy() || cx < -tol || cx > tol || cy < -tol || cy > tol {
					t.Errorf("dark modules in %v, want a centred square at least 250 px wide inside %v", dark, frame)
				}
				grey := 0
				for _, p := range luma.Pix {
					if p != 0 && p != 255 {
						grey++
					}
				}
				if grey != 0 {
					t.Errorf("%d grey luma samples; nearest-neighbour scaling keeps only black and white", grey)
				}
				got, err := decodeQRGray(luma)
				if err != nil || got != url {
					t.Errorf("QR code in the luma plane reads %q, %v; want %q", got, err, url)
				}
			})
		}
	})

	t.Run("errors", func(t *testing.T) {
		dir := t.TempDir()
		for _, tc := range []struct {
			name   string
			path   string
			img    image.Image
			frames int
		}{
			{"no-frames", filepath.Join(dir, "a.y4m"), image.NewGray(image.Rect(0, 0, 4, 4)), 0},
			{"empty-image", filepath.Join(dir, "b.y4m"), image.NewGray(image.Rect(0, 0, 0, 4)), 1},
			{"no-directory", filepath.Join(dir, "missing", "c.y4m"), image.NewGray(image.Rect(0, 0, 4, 4)), 1},
		} {
			t.Run(tc.name, func(t *testing.T) {
				if err := writeY4M(tc.path, tc.img, tc.frames); err == nil {
					t.Errorf("writeY4M succeeded, want an error")
				}
			})
		}
	})
}

// fakeCamPage is a bare page (no CSP) that reads one frame from the camera.
const fakeCamPage = `<!doctype html>
<meta name="viewport" content="width=device-width, initial-scale=1">
<video playsinline muted></video>
<script>
// grabFrame resolves to the camera's frame size and one frame as a PNG data URL.
async function grabFrame() {
  const stream = await navigator.mediaDevices.getUserMedia({video: true});
  const video = document.querySelector('video');
  video.srcObject = stream;
  await video.play();
  await new Promise(done => video.requestVideoFrameCallback(() => done()));
  const canvas = document.createElement('canvas');
  canvas.width = video.videoWidth;
  canvas.height = video.videoHeight;
  canvas.getContext('2d').drawImage(video, 0, 0);
  stream.getTracks().forEach(t => t.stop());
  return {width: canvas.width, height: canvas.height, png: canvas.toDataURL('image/png')};
}
// cameraError resolves to the name of getUserMedia's error, or "" when it
// gives a stream; it gives up after 10 s.
async function cameraError() {
  const timeout = new Promise(done => setTimeout(() => done('timeout'), 10000));
  const ask = navigator.mediaDevices.getUserMedia({video: true}).then(
    s => { s.getTracks().forEach(t => t.stop()); return ''; },
    e => e.name);
  return Promise.race([ask, timeout]);
}
// position resolves to the phone's position, or to the error's message.
function position() {
  return new Promise(done => navigator.geolocation.getCurrentPosition(
    p => done({lat: p.coords.latitude, lon: p.coords.longitude, accuracy: p.coords.accuracy}),
    e => done({error: e.message}), {timeout: 10000}));
}
</script>`

// servePage serves page at / of a loopback server (http://127.0.0.1:port, a
// secure context, so getUserMedia and geolocation work) for the test.
func servePage(t *testing.T, page string) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		io.WriteString(w, page)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// TestFakeCameraShowsImage: a QR code written with writeY4M is what a page
// in newPhoneBrowser sees through getUserMedia; a frame drawn into a canvas
// reads back as the QR code's text. So a camera-fed scanner in the phone
// app can read what the desktop page shows.
func TestFakeCameraShowsImage(t *testing.T) {
	const url = "http://127.0.0.1:8080/d/tqr_0123456789abcdefghijklmnopqrstuvwxyz?n=42"
	pngBytes, err := qrcode.Encode(url, qrcode.Medium, 256)
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(pngBytes))
	if err != nil {
		t.Fatal(err)
	}
	video := filepath.Join(t.TempDir(), "qr.y4m")
	if err := writeY4M(video, img, 10); err != nil {
		t.Fatal(err)
	}
	bctx := newPhoneBrowser(t, video)
	base := servePage(t, fakeCamPage)

	if err := chromedp.Do(bctx, chromedp.Navigate(base+"/")); err != nil {
		t.Fatalf("browser: open the page: %v", err)
	}
	type frame struct {
		Width  int    `json:"width"`
		Height int    `json:"height"`
		PNG    string `json:"png"`
	}
	f, err := chromedp.Run(bctx, chromedp.Evaluate[frame](`grabFrame()`, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("browser: grab a camera frame: %v", err)
	}
	if f.Width != fakeCamWidth || f.Height != fakeCamHeight {
		t.Errorf("camera frame %dx%d, want %dx%d", f.Width, f.Height, fakeCamWidth, fakeCamHeight)
	}
	data, ok := strings.CutPrefix(f.PNG, "data:image/png;base64,")
	if !ok {
		t.Fatalf("canvas gave %.40q…, want a PNG data URL", f.PNG)
	}
	raw, err := base64.StdEncoding.DecodeString(data)
	if err != nil {
		t.Fatalf("canvas PNG: %v", err)
	}
	got, err := authenticator.DecodeQRPNG(bytes.NewReader(raw))
	if err != nil {
		if dir := os.Getenv("FAKECAM_DUMP"); dir != "" {
			os.WriteFile(filepath.Join(dir, "frame.png"), raw, 0o644)
		}
		t.Fatalf("decode the camera frame (set FAKECAM_DUMP=dir to keep it): %v", err)
	}
	if got != url {
		t.Errorf("the camera frame reads %q, want %q", got, url)
	}
}

// TestFakeCameraPhoneEmulation: the page in newPhoneBrowser sees a phone
// (viewport, pixel ratio, touch, User-Agent), has no camera when no video
// is given, and gets the position setGeolocation and moveTo set.
func TestFakeCameraPhoneEmulation(t *testing.T) {
	bctx := newPhoneBrowser(t, "")
	base := servePage(t, fakeCamPage)
	if err := chromedp.Do(bctx, chromedp.Navigate(base+"/")); err != nil {
		t.Fatalf("browser: open the page: %v", err)
	}

	type phone struct {
		Width, Height int
		DPR           float64
		TouchPoints   int
		Mobile        bool
		UAMobile      bool
		SecureContext bool
		PortraitQuery bool
		CoarsePointer bool
	}
	got, err := chromedp.Run(bctx, chromedp.Evaluate[phone](`({
		Width: innerWidth, Height: innerHeight, DPR: devicePixelRatio,
		TouchPoints: navigator.maxTouchPoints,
		Mobile: / Mobile /.test(navigator.userAgent) && /Android/.test(navigator.userAgent),
		UAMobile: !!(navigator.userAgentData && navigator.userAgentData.mobile),
		SecureContext: isSecureContext,
		PortraitQuery: matchMedia('(orientation: portrait)').matches,
		CoarsePointer: matchMedia('(pointer: coarse)').matches,
	})`))
	if err != nil {
		t.Fatalf("browser: read the page's view of the device: %v", err)
	}
	want := phone{Width: 390, Height: 844, DPR: 3, TouchPoints: 1, Mobile: true, UAMobile: true, SecureContext: true, PortraitQuery: true, CoarsePointer: true}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("the page's view of the device (-want +got):\n%s", diff)
	}

	camErr, err := chromedp.Run(bctx, chromedp.Evaluate[string](`cameraError()`, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("browser: ask for the camera: %v", err)
	}
	if camErr != "NotFoundError" {
		t.Errorf("getUserMedia without a video file: %q, want NotFoundError", camErr)
	}

	type pos struct {
		Lat      float64 `json:"lat"`
		Lon      float64 `json:"lon"`
		Accuracy float64 `json:"accuracy"`
		Error    string  `json:"error"`
	}
	read := func() pos {
		t.Helper()
		p, err := chromedp.Run(bctx, chromedp.Evaluate[pos](`position()`, chromedp.EvalAwaitPromise))
		if err != nil {
			t.Fatalf("browser: read the position: %v", err)
		}
		return p
	}
	if p := read(); p.Error == "" {
		t.Errorf("position before setGeolocation = %+v, want an error (permission not granted)", p)
	}
	if err := setGeolocation(bctx, 12.94739, 80.24207, 18.5); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(pos{Lat: 12.94739, Lon: 80.24207, Accuracy: 18.5}, read()); diff != "" {
		t.Errorf("position after setGeolocation (-want +got):\n%s", diff)
	}
	if err := chromedp.Do(bctx, moveTo(12.95, 80.25, 7)); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(pos{Lat: 12.95, Lon: 80.25, Accuracy: 7}, read()); diff != "" {
		t.Errorf("position after moveTo (-want +got):\n%s", diff)
	}
}
