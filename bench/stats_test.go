package main

import (
	"math"
	"testing"
)

func TestSummarize(t *testing.T) {
	nan := math.NaN()
	tests := []struct {
		in   []float64
		want Summary
	}{
		{[]float64{3}, Summary{3, 3, 3, 1}},
		{[]float64{5, 1, 3}, Summary{3, 1, 5, 3}},
		{[]float64{4, 1, 3, 2}, Summary{2.5, 1, 4, 4}},
		{[]float64{nan, 2, 8}, Summary{5, 2, 8, 2}},
		{[]float64{10, 10, 1, 10, 100}, Summary{10, 1, 100, 5}},
	}
	for _, tt := range tests {
		if got := Summarize(tt.in); got != tt.want {
			t.Errorf("Summarize(%v) = %+v, want %+v", tt.in, got, tt.want)
		}
	}
	for _, in := range [][]float64{nil, {nan}} {
		if got := Summarize(in); got.N != 0 || !math.IsNaN(got.Median) {
			t.Errorf("Summarize(%v) = %+v, want N 0 and NaN median", in, got)
		}
	}
	in := []float64{3, 1, 2}
	Summarize(in)
	if in[0] != 3 {
		t.Errorf("Summarize sorted its argument: %v", in)
	}
}

func TestRatio(t *testing.T) {
	nan := math.NaN()
	tests := []struct {
		a, b, want float64
	}{
		{30, 100, 0.3},
		{100, 100, 1},
		{1, 0, nan},
		{1, -1, nan},
		{nan, 1, nan},
		{1, nan, nan},
	}
	for _, tt := range tests {
		got := Ratio(tt.a, tt.b)
		if !(got == tt.want || math.IsNaN(got) && math.IsNaN(tt.want)) {
			t.Errorf("Ratio(%v, %v) = %v, want %v", tt.a, tt.b, got, tt.want)
		}
	}
}
