package main

import (
	"fmt"
	"html"
	"math"
	"strings"
)

// The chart: two panels side by side, each with its own y axis in events/s.
const (
	width, height             = 960, 400
	panelW                    = width / 2
	marginL, marginR          = 70, 20
	marginT, marginB          = 64, 56
	colorTotal, colorSteady   = "#1f5fa8", "#8cb8e8"
	plotW                     = panelW - marginL - marginR
	plotH                     = height - marginT - marginB
	totalLabel, steadyLabel   = "events/s (from Run, joins included)", "steady events/s (after every instance's first event)"
	groupTitle, dedupTitle    = "Instances of one group, 12 partitions", "Transactional dedup vs rows in processed_events"
	groupXLabel, dedupXLabel  = "instances", "rows in processed_events (before the run)"
	fontAttrs                 = `font-family="sans-serif" font-size="12" fill="#222"`
	gridColor, axisColor      = "#ddd", "#444"
	unitTotal, unitSteady     = "events/s", "steady-events/s"
	barGap, barPad            = 4, 0.2
	pointRadius               = 4
	legendSwatch, legendSpace = 12, 6
)

// chart returns the SVG document: bars for the group's instances on the
// left, lines over the table sizes (evenly spaced categories, which is a log
// scale for 0, 100k, 1M, 10M) on the right.
func chart(group, dedup []point) string {
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d">`+"\n", width, height, width, height)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="#fff"/>`+"\n", width, height)
	legend(&b)
	panel(&b, 0, groupTitle, groupXLabel, group, bars)
	panel(&b, panelW, dedupTitle, dedupXLabel, dedup, lines)
	b.WriteString("</svg>\n")
	return b.String()
}

func legend(b *strings.Builder) {
	x := marginL
	for _, l := range []struct{ color, text string }{{colorTotal, totalLabel}, {colorSteady, steadyLabel}} {
		fmt.Fprintf(b, `<rect x="%d" y="8" width="%d" height="%d" fill="%s"/>`+"\n", x, legendSwatch, legendSwatch, l.color)
		fmt.Fprintf(b, `<text x="%d" y="18" %s>%s</text>`+"\n", x+legendSwatch+legendSpace, fontAttrs, html.EscapeString(l.text))
		x += legendSwatch + legendSpace + 7*len(l.text) + 24
	}
}

type drawFunc func(b *strings.Builder, x0 int, ps []point, y func(float64) float64, slot float64)

// panel draws a panel's frame, y grid, title and x labels at x0, then its
// data with draw.
func panel(b *strings.Builder, x0 int, title, xLabel string, ps []point, draw drawFunc) {
	left, top, bottom := float64(x0+marginL), float64(marginT), float64(marginT+plotH)
	fmt.Fprintf(b, `<text x="%g" y="%d" %s font-weight="bold">%s</text>`+"\n", left, marginT-16, fontAttrs, html.EscapeString(title))
	if len(ps) == 0 {
		fmt.Fprintf(b, `<text x="%g" y="%g" %s>not measured in this run</text>`+"\n", left+10, top+float64(plotH)/2, fontAttrs)
		return
	}
	top1 := 0.0
	for _, p := range ps {
		top1 = max(top1, p.median[unitTotal], p.median[unitSteady])
	}
	ymax, step := niceScale(top1)
	y := func(v float64) float64 { return bottom - v/ymax*float64(plotH) }
	for v := 0.0; v <= ymax+step/2; v += step {
		fmt.Fprintf(b, `<line x1="%g" y1="%.1f" x2="%g" y2="%.1f" stroke="%s"/>`+"\n", left, y(v), left+plotW, y(v), gridColor)
		fmt.Fprintf(b, `<text x="%g" y="%.1f" %s text-anchor="end">%s</text>`+"\n", left-6, y(v)+4, fontAttrs, short(v))
	}
	fmt.Fprintf(b, `<line x1="%g" y1="%g" x2="%g" y2="%g" stroke="%s"/>`+"\n", left, top, left, bottom, axisColor)
	fmt.Fprintf(b, `<line x1="%g" y1="%g" x2="%g" y2="%g" stroke="%s"/>`+"\n", left, bottom, left+plotW, bottom, axisColor)
	fmt.Fprintf(b, `<text x="%d" y="%g" %s text-anchor="middle" transform="rotate(-90 %d %g)">events/s</text>`+"\n",
		x0+16, top+float64(plotH)/2, fontAttrs, x0+16, top+float64(plotH)/2)
	slot := float64(plotW) / float64(len(ps))
	for i, p := range ps {
		fmt.Fprintf(b, `<text x="%.1f" y="%g" %s text-anchor="middle">%s</text>`+"\n", left+slot*(float64(i)+0.5), bottom+18, fontAttrs, short(p.x))
	}
	fmt.Fprintf(b, `<text x="%g" y="%g" %s text-anchor="middle">%s</text>`+"\n", left+plotW/2, bottom+40, fontAttrs, html.EscapeString(xLabel))
	draw(b, x0, ps, y, slot)
}

// bars draws two bars per point: events/s and steady events/s.
func bars(b *strings.Builder, x0 int, ps []point, y func(float64) float64, slot float64) {
	left := float64(x0 + marginL)
	w := (slot*(1-2*barPad) - barGap) / 2
	for i, p := range ps {
		x := left + slot*float64(i) + slot*barPad
		for j, s := range []struct{ unit, color string }{{unitTotal, colorTotal}, {unitSteady, colorSteady}} {
			v := p.median[s.unit]
			bx := x + float64(j)*(w+barGap)
			fmt.Fprintf(b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"><title>%s instances: %.0f %s</title></rect>`+"\n",
				bx, y(v), w, y(0)-y(v), s.color, p.label, v, s.unit)
			fmt.Fprintf(b, `<text x="%.1f" y="%.1f" %s font-size="10" text-anchor="middle">%s</text>`+"\n", bx+w/2, y(v)-4, fontAttrs, short(math.Round(v/100)*100))
		}
	}
}

// lines draws a line with points for events/s and one for steady events/s.
func lines(b *strings.Builder, x0 int, ps []point, y func(float64) float64, slot float64) {
	left := float64(x0 + marginL)
	for _, s := range []struct{ unit, color string }{{unitSteady, colorSteady}, {unitTotal, colorTotal}} {
		var pts []string
		for i, p := range ps {
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", left+slot*(float64(i)+0.5), y(p.median[s.unit])))
		}
		fmt.Fprintf(b, `<polyline points="%s" fill="none" stroke="%s" stroke-width="2"/>`+"\n", strings.Join(pts, " "), s.color)
		for i, p := range ps {
			v := p.median[s.unit]
			cx := left + slot*(float64(i)+0.5)
			fmt.Fprintf(b, `<circle cx="%.1f" cy="%.1f" r="%d" fill="%s"><title>%s rows: %.0f %s</title></circle>`+"\n",
				cx, y(v), pointRadius, s.color, thousands(int64(p.x)), v, s.unit)
			fmt.Fprintf(b, `<text x="%.1f" y="%.1f" %s font-size="10" text-anchor="middle">%s</text>`+"\n", cx, y(v)-8, fontAttrs, short(math.Round(v/100)*100))
		}
	}
}

// niceScale returns an axis maximum at or above v and a step of 1, 2 or 5
// times a power of ten that divides it into 4 to 10 intervals.
func niceScale(v float64) (ymax, step float64) {
	if v <= 0 {
		return 1, 0.25
	}
	raw := v * 1.1 / 5
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 5, 10} {
		if step = m * mag; step >= raw {
			break
		}
	}
	return math.Ceil(v*1.1/step) * step, step
}
