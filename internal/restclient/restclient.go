// Package restclient builds the resty clients paysync's provider and CRM
// packages use, with the same defaults everywhere.
package restclient

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/go-resty/resty/v2"
)

// MaxAnswer bounds an answer body; providers and CRMs answer far less.
const MaxAnswer = 1 << 20

// New returns a resty client for baseURL. resty's own logger is silenced:
// it prints request URLs, and a Bitrix24 webhook URL or a query string can
// carry a secret. Callers log classified errors themselves.
func New(baseURL string, timeout time.Duration, hc *http.Client) *resty.Client {
	if hc == nil {
		hc = &http.Client{}
	}
	return resty.NewWithClient(hc).
		SetBaseURL(strings.TrimRight(baseURL, "/")).
		SetTimeout(timeout).
		SetHeader("Accept", "application/json").
		SetHeader("User-Agent", "paysync").
		SetResponseBodyLimit(MaxAnswer).
		SetLogger(Quiet{})
}

// Quiet is a resty logger that logs nothing.
type Quiet struct{}

func (Quiet) Errorf(string, ...any) {}
func (Quiet) Warnf(string, ...any)  {}
func (Quiet) Debugf(string, ...any) {}

// Failure describes a request that got no answer: its message without the
// request's URL (a url.Error's own text holds it, and a URL can carry a
// secret), whether it timed out, and the context error that ended it, if
// one did.
func Failure(err error) (msg string, timeout bool, ctxErr error) {
	msg = err.Error()
	var ue *url.Error
	if errors.As(err, &ue) {
		msg = ue.Err.Error()
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		timeout = true
	}
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		ctxErr, timeout = context.DeadlineExceeded, true
	case errors.Is(err, context.Canceled):
		ctxErr = context.Canceled
	}
	return msg, timeout, ctxErr
}
