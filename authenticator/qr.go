package authenticator

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/png"
	"io"

	"github.com/makiuchi-d/gozxing"
	"github.com/makiuchi-d/gozxing/qrcode"
)

// Limits of a QR code image.
const (
	maxQRImageBytes  = 20 << 20
	maxQRImagePixels = 40_000_000
)

// DecodeQRPNG reads a PNG image holding a QR code (a screenshot of the
// hand-over page will do) and returns the QR code's text.
func DecodeQRPNG(r io.Reader) (string, error) {
	data, err := io.ReadAll(io.LimitReader(r, maxQRImageBytes+1))
	if err != nil {
		return "", fmt.Errorf("read the QR image: %w", err)
	}
	if len(data) > maxQRImageBytes {
		return "", fmt.Errorf("the QR image is larger than %d MiB", maxQRImageBytes>>20)
	}
	cfg, err := png.DecodeConfig(bytes.NewReader(data))
	if err != nil {
		return "", fmt.Errorf("the QR image is not a PNG: %w", err)
	}
	if cfg.Width*cfg.Height > maxQRImagePixels {
		return "", fmt.Errorf("the QR image is too large (%dx%d pixels)", cfg.Width, cfg.Height)
	}
	img, err := png.Decode(bytes.NewReader(data))
	if err != nil {
		return "", fmt.Errorf("the QR image is not a valid PNG: %w", err)
	}
	return decodeQR(img)
}

func decodeQR(img image.Image) (string, error) {
	bmp, err := gozxing.NewBinaryBitmap(gozxing.NewHybridBinarizer(gozxing.NewLuminanceSourceFromImage(img)))
	if err != nil {
		return "", fmt.Errorf("read the QR image: %w", err)
	}
	hints := map[gozxing.DecodeHintType]any{gozxing.DecodeHintType_TRY_HARDER: true}
	res, err := qrcode.NewQRCodeReader().Decode(bmp, hints)
	if err != nil {
		return "", errors.New("no QR code found in the image")
	}
	return res.GetText(), nil
}
