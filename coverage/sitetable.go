package coverage

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// SiteTable lays out call sites one a line in aligned columns: the text
// report, the diff, the check and bed's matchers all list sites with one,
// each with the columns it shows.
type SiteTable struct {
	Indent  string // before every line
	Columns []SiteColumn
}

// SiteColumn is one column of a SiteTable. Widths are in runes. A column
// is as wide as its widest cell, at most MaxWidth, or exactly Width when
// that is set. Columns are two spaces apart; the last one, when left
// aligned, is not padded.
type SiteColumn struct {
	Cell     func(*Site) string
	Width    int  // a fixed width: cells are padded to it, never clipped (0: from the cells)
	MaxWidth int  // cells are clipped to it (0: never)
	Right    bool // aligned right (numbers)
	ClipLeft bool // clip the start, keeping the end (a path's file name)
}

// Lines lays out sites, one line each, in the order given; the columns are
// as wide as these sites need.
func (t SiteTable) Lines(sites []Site) []string {
	cells := make([][]string, len(sites))
	widths := make([]int, len(t.Columns))
	for i := range sites {
		cells[i] = make([]string, len(t.Columns))
		for j, c := range t.Columns {
			s := c.Cell(&sites[i])
			if c.MaxWidth > 0 {
				if c.ClipLeft {
					s = clipLeft(s, c.MaxWidth)
				} else {
					s = clipRight(s, c.MaxWidth)
				}
			}
			cells[i][j] = s
			widths[j] = max(widths[j], utf8.RuneCountInString(s))
		}
	}
	for j, c := range t.Columns {
		if c.Width > 0 {
			widths[j] = c.Width
		}
	}
	lines := make([]string, len(sites))
	var b strings.Builder
	for i := range sites {
		b.Reset()
		b.WriteString(t.Indent)
		for j, c := range t.Columns {
			if j > 0 {
				b.WriteString("  ")
			}
			pad := strings.Repeat(" ", max(widths[j]-utf8.RuneCountInString(cells[i][j]), 0))
			switch {
			case c.Right:
				b.WriteString(pad + cells[i][j])
			case j == len(t.Columns)-1:
				b.WriteString(cells[i][j])
			default:
				b.WriteString(cells[i][j] + pad)
			}
		}
		lines[i] = b.String()
	}
	return lines
}

// MoreSites is the line that stands for the sites a list leaves out:
// "… 3 more (12 calls)".
func MoreSites(rest []Site) string {
	return fmt.Sprintf("… %d more (%d calls)", len(rest), sumCounts(rest))
}

// sumCounts adds up the sites' calls.
func sumCounts(sites []Site) uint64 {
	var n uint64
	for _, s := range sites {
		n += s.Count
	}
	return n
}
