package main

import (
	"errors"
	"fmt"
	"math"
	"math/big"
	"strconv"
)

// Kubernetes resource quantities ("500m", "0.5", "64Mi", "1e9"), parsed exactly
// with big.Rat and rounded up like resource.Quantity's Value/MilliValue.

var quantitySuffixes = map[string]*big.Rat{
	"n": big.NewRat(1, 1_000_000_000), "u": big.NewRat(1, 1_000_000), "m": big.NewRat(1, 1000), "": big.NewRat(1, 1),
	"k": pow(10, 3), "M": pow(10, 6), "G": pow(10, 9), "T": pow(10, 12), "P": pow(10, 15), "E": pow(10, 18),
	"Ki": pow(2, 10), "Mi": pow(2, 20), "Gi": pow(2, 30), "Ti": pow(2, 40), "Pi": pow(2, 50), "Ei": pow(2, 60),
}

func pow(base, exp int64) *big.Rat {
	return new(big.Rat).SetInt(new(big.Int).Exp(big.NewInt(base), big.NewInt(exp), nil))
}

// maxQuantity (1Pi) keeps values in thousandths inside int64.
var maxQuantity = pow(2, 50)

var errQuantity = errors.New("quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'")

// parseQuantity parses a non-negative Kubernetes quantity.
func parseQuantity(s string) (*big.Rat, error) {
	i := 0
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		i++
	}
	digits, dots := 0, 0
	for ; i < len(s) && (s[i] >= '0' && s[i] <= '9' || s[i] == '.'); i++ {
		if s[i] == '.' {
			dots++
		} else {
			digits++
		}
	}
	if digits == 0 || dots > 1 {
		return nil, errQuantity
	}
	num, ok := new(big.Rat).SetString(s[:i])
	if !ok {
		return nil, errQuantity
	}
	suffix := s[i:]
	mult, ok := quantitySuffixes[suffix]
	if !ok {
		if len(suffix) < 2 || suffix[0] != 'e' && suffix[0] != 'E' {
			return nil, errQuantity
		}
		exp, err := strconv.Atoi(suffix[1:])
		if err != nil || exp < -30 || exp > 30 {
			return nil, errQuantity
		}
		mult = pow(10, int64(max(exp, -exp)))
		if exp < 0 {
			mult.Inv(mult)
		}
	}
	num.Mul(num, mult)
	if num.Sign() < 0 {
		return nil, errors.New("must be greater than or equal to 0")
	}
	if num.Cmp(maxQuantity) > 0 {
		return nil, errors.New("quantity too large")
	}
	return num, nil
}

// ceilInt rounds r*scale up to an integer.
func ceilInt(r *big.Rat, scale int64) int64 {
	x := new(big.Rat).Mul(r, big.NewRat(scale, 1))
	q, m := new(big.Int).QuoRem(x.Num(), x.Denom(), new(big.Int))
	if m.Sign() > 0 {
		q.Add(q, big.NewInt(1))
	}
	return q.Int64()
}

// parseMilli returns a quantity in thousandths (CPU millicores), rounded up.
func parseMilli(s string) (int64, error) {
	r, err := parseQuantity(s)
	if err != nil {
		return 0, err
	}
	return ceilInt(r, 1000), nil
}

// parseValue returns a quantity in units (memory bytes, pods), rounded up.
func parseValue(s string) (int64, error) {
	r, err := parseQuantity(s)
	if err != nil {
		return 0, err
	}
	return ceilInt(r, 1), nil
}

// formatMilli prints CPU as the API server does: "2" or "1500m".
func formatMilli(m int64) string {
	if m%1000 == 0 {
		return strconv.FormatInt(m/1000, 10)
	}
	return strconv.FormatInt(m, 10) + "m"
}

// formatBytes prints memory with the largest exact binary suffix, else in bytes.
func formatBytes(b int64) string {
	for _, s := range []string{"Ei", "Pi", "Ti", "Gi", "Mi", "Ki"} {
		unit := quantitySuffixes[s].Num().Int64()
		if b != 0 && b%unit == 0 {
			return fmt.Sprintf("%d%s", b/unit, s)
		}
	}
	return strconv.FormatInt(b, 10)
}

// addSat adds non-negative amounts without wrapping around: sums of many
// large limits must still compare as too large.
func addSat(a, b int64) int64 {
	if a > math.MaxInt64-b {
		return math.MaxInt64
	}
	return a + b
}
