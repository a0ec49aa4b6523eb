package benchplot

// docs/bench-apps.svg is rendered from docs/bench-apps.tsv (the rows of a
// `make bench-apps TSV=docs/bench-apps.tsv` run), never edited by hand;
// TestPlotUpToDate fails when the two drift apart.
//go:generate go run ./genplot -i ../../docs/bench-apps.tsv -o ../../docs/bench-apps.svg
