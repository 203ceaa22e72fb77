package main

import (
	"fmt"
	"math"
	"strings"
)

// series is one line of a panel.
type series struct {
	name   string
	colour string
	y      []float64
	dashed bool
}

// plot draws two panels over the number of keys (log scale): memory (RSS,
// peak RSS, live heap, in MiB) and time to ready (s).
func (b *bench) plot() string {
	rows := append([]row{b.baseRow}, b.rows...)
	xs := make([]float64, len(rows))
	var rss, peak, live, ready []float64
	for i, r := range rows {
		xs[i] = float64(r.N)
		l := r.LiveAfter
		if i == 0 {
			l = r.Mem.LiveHeap
		}
		rss, peak, live = append(rss, float64(r.Mem.RSS)/mib), append(peak, float64(r.Mem.PeakRSS)/mib), append(live, float64(l)/mib)
		ready = append(ready, r.Ready.Seconds())
	}
	var s strings.Builder
	s.WriteString(`<svg xmlns="http://www.w3.org/2000/svg" width="960" height="360" font-family="sans-serif" font-size="12">` + "\n")
	s.WriteString(`<rect width="960" height="360" fill="white"/>` + "\n")
	panel(&s, 0, "auth server memory (MiB) by API keys loaded", xs, []series{
		{"peak RSS", "#d62728", peak, true}, {"RSS after load", "#1f77b4", rss, false}, {"live Go heap", "#2ca02c", live, false},
	})
	panel(&s, 480, "time from start to /readyz (s)", xs, []series{{"ready", "#9467bd", ready, false}})
	s.WriteString("</svg>\n")
	return s.String()
}

// panel draws one chart of 480x360 at x offset ox: a log-scale x axis with
// a tick per power of ten, a linear y axis from 0.
func panel(s *strings.Builder, ox float64, title string, xs []float64, ss []series) {
	const left, right, top, bottom = 60.0, 20.0, 40.0, 50.0
	w, h := 480-left-right, 360-top-bottom
	xmax := math.Ceil(math.Log10(xs[len(xs)-1]))
	if xmax < 1 {
		xmax = 1
	}
	ymax := 0.0
	for _, sr := range ss {
		for _, v := range sr.y {
			ymax = math.Max(ymax, v)
		}
	}
	ymax = niceCeil(ymax)
	px := func(x float64) float64 { return ox + left + w*math.Log10(math.Max(x, 1))/xmax }
	py := func(y float64) float64 { return top + h - h*y/ymax }
	fmt.Fprintf(s, `<text x="%.0f" y="22" font-size="14">%s</text>`+"\n", ox+left, title)
	fmt.Fprintf(s, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="black"/>`+"\n", px(1), py(0), px(math.Pow(10, xmax)), py(0))
	fmt.Fprintf(s, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="black"/>`+"\n", px(1), py(0), px(1), py(ymax))
	for e := 0.0; e <= xmax; e++ {
		x := px(math.Pow(10, e))
		fmt.Fprintf(s, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#ddd"/>`+"\n", x, py(0), x, py(ymax))
		fmt.Fprintf(s, `<text x="%.1f" y="%.1f" text-anchor="middle">%s</text>`+"\n", x, py(0)+16, humanCount(math.Pow(10, e)))
	}
	fmt.Fprintf(s, `<text x="%.1f" y="%.1f" text-anchor="middle">API keys (log scale)</text>`+"\n", ox+left+w/2, py(0)+36)
	for i := 0; i <= 4; i++ {
		y := ymax * float64(i) / 4
		fmt.Fprintf(s, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#eee"/>`+"\n", px(1), py(y), px(math.Pow(10, xmax)), py(y))
		fmt.Fprintf(s, `<text x="%.1f" y="%.1f" text-anchor="end">%g</text>`+"\n", px(1)-6, py(y)+4, y)
	}
	for k, sr := range ss {
		var pts []string
		for i, v := range sr.y {
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", px(xs[i]), py(v)))
			fmt.Fprintf(s, `<circle cx="%.1f" cy="%.1f" r="3" fill="%s"><title>%s at %s: %.1f</title></circle>`+"\n",
				px(xs[i]), py(v), sr.colour, sr.name, humanCount(xs[i]), v)
		}
		dash := ""
		if sr.dashed {
			dash = ` stroke-dasharray="6 4"`
		}
		fmt.Fprintf(s, `<polyline points="%s" fill="none" stroke="%s" stroke-width="2"%s/>`+"\n", strings.Join(pts, " "), sr.colour, dash)
		ly := top + 14 + 16*float64(k)
		fmt.Fprintf(s, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s" stroke-width="2"/>`+"\n", ox+left+10, ly-4, ox+left+30, ly-4, sr.colour)
		fmt.Fprintf(s, `<text x="%.1f" y="%.1f">%s</text>`+"\n", ox+left+36, ly, sr.name)
	}
}

// niceCeil rounds v up to a round multiple (1 to 8) of a power of ten.
func niceCeil(v float64) float64 {
	if v <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10} {
		if v <= m*p {
			return m * p
		}
	}
	return 10 * p
}

func humanCount(v float64) string {
	switch {
	case v >= 1e6:
		return fmt.Sprintf("%gM", v/1e6)
	case v >= 1e3:
		return fmt.Sprintf("%gk", v/1e3)
	}
	return fmt.Sprintf("%g", v)
}
