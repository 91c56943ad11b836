package redact

import (
	"net/url"
	"strings"
	"sync"
	"testing"
)

func TestRedactsEveryFormLongestFirst(t *testing.T) {
	hook := "https://shop.bitrix24.ru/rest/1/abc def/"
	r := New(hook, "abc def", "ab") // "ab" is too short to redact
	for _, in := range []string{hook, url.QueryEscape(hook), "code=" + url.QueryEscape("abc def"), "path /" + url.PathEscape("abc def") + "/x"} {
		out := r.String("failed: " + in)
		if strings.Contains(out, "abc") || !strings.Contains(out, Marker) {
			t.Errorf("%q -> %q", in, out)
		}
	}
	if got := r.String("about a bird"); got != "about a bird" {
		t.Errorf("short value redacted: %q", got)
	}
	if out := r.String(hook); out != Marker {
		t.Errorf("the whole URL must go as one: %q", out)
	}
}

func TestConcurrentAddAndString(t *testing.T) {
	var r Redactor
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(2)
		go func() { defer wg.Done(); r.Add("secret-token-1") }()
		go func() { defer wg.Done(); _ = r.String("secret-token-1") }()
	}
	wg.Wait()
	if r.String("x secret-token-1") != "x "+Marker || r.Empty() {
		t.Fatal("not redacted")
	}
}
