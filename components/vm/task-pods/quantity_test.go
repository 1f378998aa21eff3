package main

import "testing"

func TestParseQuantity(t *testing.T) {
	cases := []struct {
		in           string
		milli, value int64
	}{
		{"1", 1000, 1},
		{"500m", 500, 1},
		{"0.5", 500, 1},
		{".5", 500, 1},
		{"1.5", 1500, 2},
		{"100u", 1, 1}, // rounded up, as Kubernetes does
		{"64Mi", 64 << 20 * 1000, 64 << 20},
		{"1Gi", 1 << 30 * 1000, 1 << 30},
		{"512M", 512e6 * 1000, 512e6},
		{"1e9", 1e9 * 1000, 1e9},
		{"1E3", 1e6, 1000},
		{"2k", 2e6, 2000},
		{"1Ki", 1024e3, 1024},
		{"1P", 1e18, 1e15},
		{"1Pi", 1 << 50 * 1000, 1 << 50},
		{"134217728", 134217728000, 134217728},
		{"+2", 2000, 2},
	}
	for _, c := range cases {
		m, err := parseMilli(c.in)
		if err != nil || m != c.milli {
			t.Errorf("parseMilli(%q) = %d, %v; want %d", c.in, m, err, c.milli)
		}
		v, err := parseValue(c.in)
		if err != nil || v != c.value {
			t.Errorf("parseValue(%q) = %d, %v; want %d", c.in, v, err, c.value)
		}
	}
}

func TestParseQuantityErrors(t *testing.T) {
	for _, in := range []string{"", "abc", "Mi", "1.2.3", "-1", "1Zi", "1e", "1 Gi", "1gi", "1e400", "1E", "2Pi"} {
		if _, err := parseQuantity(in); err == nil {
			t.Errorf("parseQuantity(%q) accepted", in)
		}
	}
}

func TestFormatQuantities(t *testing.T) {
	for in, want := range map[int64]string{0: "0", 500: "500m", 1000: "1", 1500: "1500m", 4000: "4"} {
		if got := formatMilli(in); got != want {
			t.Errorf("formatMilli(%d) = %q, want %q", in, got, want)
		}
	}
	for in, want := range map[int64]string{0: "0", 1: "1", 1024: "1Ki", 1536 << 20: "1536Mi", 2 << 30: "2Gi", 1e9: "1000000000"} {
		if got := formatBytes(in); got != want {
			t.Errorf("formatBytes(%d) = %q, want %q", in, got, want)
		}
	}
}
