// Package qrpng draws a payment link as a QR code in a PNG, with
// github.com/skip2/go-qrcode: the QR encoding (Reed-Solomon error correction,
// masks, versions) is a specification best left to a library that has
// implemented and tested all of it, rather than a few hundred lines here.
package qrpng

import (
	qrcode "github.com/skip2/go-qrcode"

	"github.com/paysync/paysync/core"
)

// Size is the side of the picture in pixels: a phone camera reads it off a
// laptop screen or a printed page.
const Size = 320

// PNG encodes text (a payment URL) as a QR code picture. Medium error
// correction survives a screen's glare and a crease in a printout.
func PNG(text string) ([]byte, error) {
	if text == "" {
		return nil, core.Errorf(core.ENOTFOUND, "nothing to draw: the order has no payment link")
	}
	b, err := qrcode.Encode(text, qrcode.Medium, Size)
	if err != nil {
		return nil, core.Errorf(core.EINVALID, "the link is too long for a QR code: %v", err)
	}
	return b, nil
}
