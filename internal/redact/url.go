package redact

import (
	"errors"
	"net/url"
	"strings"
)

// URLProblem says why a URL written as scheme://… does not parse, quoting
// none of it (a password with a stray % would otherwise be shown in part),
// and how to fix it; "" when it parses or is not written as a URL.
func URLProblem(s string) string {
	if !strings.Contains(s, "://") {
		return ""
	}
	_, err := url.Parse(s)
	if err == nil {
		return ""
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	var esc url.EscapeError
	var host url.InvalidHostError
	msg := err.Error()
	switch {
	case errors.As(err, &esc):
		return "a % is not followed by two hexadecimal digits: write a % in the user name or password as %25"
	case errors.As(err, &host):
		return "the host holds a character no host name can: check the host, and write @ / : ? # in the password as %40 %2F %3A %3F %23"
	case strings.HasPrefix(msg, "invalid port"):
		return "the port after the host is not a number: check it, and write : / @ in the password as %3A %2F %40"
	case strings.Contains(msg, "missing ']'"):
		return "an IPv6 host lacks its closing ] (write it as [::1]:5432)"
	case strings.Contains(msg, "invalid control character"), strings.Contains(msg, "invalid character"):
		return "it holds a control character or a space: percent-encode it (a space is %20)"
	}
	return "it is not a URL: percent-encode the special characters of the password (@ is %40, : is %3A, / is %2F, % is %25)"
}

// SchemeAndHost shows a URL that does not parse as only what can be told of
// its scheme and host ("postgres://db.example.am"), never its user name,
// password, path or query; a part that cannot be told is left out or
// named ("postgres://(host unreadable)").
func SchemeAndHost(s string) string {
	scheme, rest, ok := strings.Cut(s, "://")
	if !ok || !validScheme(scheme) {
		return "(a database URL that does not parse)"
	}
	after := ""
	if i := strings.IndexAny(rest, "/?#"); i >= 0 {
		rest, after = rest[:i], rest[i:]
	}
	if i := strings.LastIndex(rest, "@"); i >= 0 {
		rest = rest[i+1:]
	}
	host := ""
	if strings.Contains(after, "@") {
		// A password holding / ? or # ends the host part early: what looks
		// like the host may be a piece of it.
		rest = ""
	}
	if strings.HasPrefix(rest, "[") {
		if i := strings.Index(rest, "]"); i > 0 {
			host = rest[:i+1]
		}
	} else {
		host, _, _ = strings.Cut(rest, ":")
	}
	if !validHost(host) {
		host = "(host unreadable)"
	}
	return scheme + "://" + host
}

func validScheme(s string) bool {
	if s == "" || len(s) > 32 {
		return false
	}
	for i, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || i > 0 && (c >= '0' && c <= '9' || c == '+' || c == '-' || c == '.')) {
			return false
		}
	}
	return true
}

func validHost(h string) bool {
	if h == "" || len(h) > 253 {
		return false
	}
	if strings.HasPrefix(h, "[") {
		for _, c := range h[1 : len(h)-1] {
			if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' || c == ':' || c == '.') {
				return false
			}
		}
		return true
	}
	for _, c := range h {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}
