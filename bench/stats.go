package main

import (
	"math"
	"slices"
)

// Summary is the median of a set of measurements with its range.
type Summary struct {
	Median, Min, Max float64
	// N is how many measurements the summary covers.
	N int
}

// Summarize returns the median, minimum and maximum of vals; NaN values are
// ignored. The median of an even count is the mean of the two middle values.
func Summarize(vals []float64) Summary {
	v := make([]float64, 0, len(vals))
	for _, x := range vals {
		if !math.IsNaN(x) {
			v = append(v, x)
		}
	}
	if len(v) == 0 {
		return Summary{Median: math.NaN(), Min: math.NaN(), Max: math.NaN()}
	}
	slices.Sort(v)
	s := Summary{Min: v[0], Max: v[len(v)-1], N: len(v)}
	mid := len(v) / 2
	if len(v)%2 == 1 {
		s.Median = v[mid]
	} else {
		s.Median = (v[mid-1] + v[mid]) / 2
	}
	return s
}

// Ratio returns a/b, or NaN when either is unknown or b is not positive, so a
// missing peer shows as "-" rather than as infinity.
func Ratio(a, b float64) float64 {
	if math.IsNaN(a) || math.IsNaN(b) || b <= 0 {
		return math.NaN()
	}
	return a / b
}
