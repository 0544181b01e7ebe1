package main

import (
	"fmt"
	"math"
	"strings"
)

// Chart geometry, in SVG user units.
const (
	svgWidth    = 860
	svgHeight   = 420
	svgLeft     = 70 // room for the y-axis labels
	svgRight    = 150
	svgTop      = 50
	svgBottom   = 60
	svgBarGap   = 4
	svgGroupGap = 30
)

// peerColors gives each peer a fixed colour so charts compare across runs.
var peerColors = map[string]string{
	peerDirect:  "#9e9e9e",
	peerGantry:  "#2e7d32",
	peerNginx:   "#1565c0",
	peerHAProxy: "#6a1b9a",
	peerCaddy:   "#ef6c00",
}

// SVG renders a grouped bar chart of median req/s: one group per connection
// count, one bar per peer, each bar labelled with its value.
func SVG(r *Results) string {
	cells := Aggregate(r.Samples, r.Peers, r.Cfg.Connections)
	top := 0.0
	for _, c := range cells {
		top = math.Max(top, c.RPS.Max)
	}
	scale := niceCeil(top)
	plotW := float64(svgWidth - svgLeft - svgRight)
	plotH := float64(svgHeight - svgTop - svgBottom)
	groups := max(1, len(r.Cfg.Connections))
	bars := max(1, len(r.Peers))
	groupW := (plotW - float64(svgGroupGap*(groups+1))) / float64(groups)
	barW := (groupW - float64(svgBarGap*(bars-1))) / float64(bars)

	var b strings.Builder
	fmt.Fprintf(&b, `<?xml version="1.0" encoding="UTF-8"?>`+"\n")
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n",
		svgWidth, svgHeight, svgWidth, svgHeight)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="#ffffff"/>`+"\n", svgWidth, svgHeight)
	pinned := "pinned"
	if !r.Cfg.Pin {
		pinned = "not pinned"
	}
	fmt.Fprintf(&b, `<text x="%d" y="24" font-size="16" font-weight="bold">%s</text>`+"\n", svgLeft,
		esc(fmt.Sprintf("Median requests/s (%d run(s), wrk -t1, %s, %s)", r.Cfg.Runs, r.Cfg.Duration, pinned)))

	// Y axis with five gridlines.
	for i := 0; i <= 5; i++ {
		v := scale * float64(i) / 5
		y := float64(svgTop) + plotH - plotH*float64(i)/5
		fmt.Fprintf(&b, `<line x1="%d" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#e0e0e0"/>`+"\n", svgLeft, y, float64(svgLeft)+plotW, y)
		fmt.Fprintf(&b, `<text x="%d" y="%.1f" text-anchor="end">%s</text>`+"\n", svgLeft-6, y+4, esc(fmtRPS(v)))
	}
	fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%.1f" stroke="#000000"/>`+"\n", svgLeft, svgTop, svgLeft, float64(svgTop)+plotH)

	for gi, conns := range r.Cfg.Connections {
		gx := float64(svgLeft) + float64(svgGroupGap*(gi+1)) + groupW*float64(gi)
		for pi, p := range r.Peers {
			c, ok := find(cells, p, conns)
			if !ok || scale == 0 {
				continue
			}
			h := plotH * c.RPS.Median / scale
			x := gx + float64(pi)*(barW+svgBarGap)
			y := float64(svgTop) + plotH - h
			fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"><title>%s</title></rect>`+"\n",
				x, y, barW, h, color(p), esc(fmt.Sprintf("%s, %d connections: %s req/s (min %s, max %s, n=%d)",
					p, conns, fmtRPS(c.RPS.Median), fmtRPS(c.RPS.Min), fmtRPS(c.RPS.Max), c.RPS.N)))
			fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="middle" font-size="11">%s</text>`+"\n",
				x+barW/2, y-4, esc(fmtRPS(c.RPS.Median)))
		}
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="middle">%s</text>`+"\n",
			gx+groupW/2, float64(svgTop)+plotH+20, esc(fmt.Sprintf("%d connections", conns)))
	}

	// Legend.
	lx := svgWidth - svgRight + 20
	for i, p := range r.Peers {
		y := svgTop + 10 + i*20
		fmt.Fprintf(&b, `<rect x="%d" y="%d" width="12" height="12" fill="%s"/>`+"\n", lx, y, color(p))
		fmt.Fprintf(&b, `<text x="%d" y="%d">%s</text>`+"\n", lx+18, y+11, esc(p))
	}
	b.WriteString("</svg>\n")
	return b.String()
}

func color(peer string) string {
	if c, ok := peerColors[peer]; ok {
		return c
	}
	return "#607d8b"
}

// niceCeil rounds v up to 1, 2 or 5 times a power of ten, so axis labels are round.
func niceCeil(v float64) float64 {
	if v <= 0 || math.IsNaN(v) {
		return 0
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if v <= m*p {
			return m * p
		}
	}
	return 10 * p
}

// esc escapes text for XML character data and attribute values.
func esc(s string) string {
	r := strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;", "'", "&apos;")
	return r.Replace(s)
}
