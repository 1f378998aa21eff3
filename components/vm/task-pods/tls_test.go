package main

import (
	"crypto/x509"
	"testing"
)

func TestNewTLS(t *testing.T) {
	for _, host := range []string{"task-pods", "10.0.0.7"} {
		cfg, caPEM, err := newTLS(host)
		if err != nil {
			t.Fatal(err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(caPEM) {
			t.Fatal("ca.crt is not PEM")
		}
		leaf, err := x509.ParseCertificate(cfg.Certificates[0].Certificate[0])
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range []string{host, "localhost", "127.0.0.1"} {
			if _, err := leaf.Verify(x509.VerifyOptions{DNSName: name, Roots: pool}); err != nil {
				t.Errorf("%s: %v", name, err)
			}
		}
	}
}
