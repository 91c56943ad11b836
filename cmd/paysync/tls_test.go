package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/paysync/paysync/storage/testdb"
)

// TestServeTLSWithHSTSAndConnectionCap is issue 22, item 7, end to end:
// serve terminates TLS when tls_cert_file and tls_key_file are set and then
// answers with Strict-Transport-Security, and it keeps at most
// max_connections open (5,000 idle connections used to be kept).
func TestServeTLSWithHSTSAndConnectionCap(t *testing.T) {
	testdb.Each(t, func(t *testing.T, dialect string) {
		cert, key, pool := selfSigned(t)
		e := startE2E(t, dialect, map[string]string{"PAYSYNC_TLS_CERT_FILE": cert, "PAYSYNC_TLS_KEY_FILE": key, "PAYSYNC_MAX_CONNECTIONS": "16"})
		addr := strings.TrimPrefix(e.base, "http://")
		client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
		resp, err := client.Get("https://" + addr + "/healthz")
		if err != nil {
			t.Fatalf("serve does not answer HTTPS with tls_cert_file set: %v", err)
		}
		resp.Body.Close()
		if got := resp.Header.Get("Strict-Transport-Security"); !strings.HasPrefix(got, "max-age=") {
			t.Fatalf("no Strict-Transport-Security over TLS: %q", got)
		}
		var conns []net.Conn
		for i := 0; i < 200; i++ {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			conns = append(conns, c)
		}
		time.Sleep(200 * time.Millisecond)
		open := 0
		for _, c := range conns {
			c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
			if _, err := c.Read(make([]byte, 1)); err != nil {
				if ne, ok := err.(net.Error); ok && ne.Timeout() {
					open++
				}
			}
		}
		if open > 16 {
			t.Fatalf("%d of 200 idle connections kept open; max_connections is 16", open)
		}
		resp, err = client.Get("https://" + addr + "/healthz")
		if err != nil {
			t.Fatalf("a real request after the flood: %v", err)
		}
		resp.Body.Close()
	})
}

// selfSigned writes a certificate for 127.0.0.1 and its key, PEM, and
// returns their paths and a pool that trusts it.
func selfSigned(t *testing.T) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "paysync test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600)
	c, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(c)
	return certFile, keyFile, pool
}
