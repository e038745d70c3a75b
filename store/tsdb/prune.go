package tsdb

import (
	"context"
	"fmt"
	"log/slog"
	"slices"

	"github.com/oklog/ulid/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/model/labels"
	promtsdb "github.com/prometheus/prometheus/tsdb"
	"github.com/prometheus/prometheus/tsdb/chunkenc"
	"github.com/prometheus/prometheus/tsdb/chunks"
	"github.com/prometheus/prometheus/tsdb/index"
	"github.com/prometheus/prometheus/tsdb/tombstones"
)

// pruningCompactor is Prometheus' leveled compactor, except that a persisted block it rewrites without its
// deleted series (CleanTombstones) gets a symbol table of the strings its remaining series use. Prometheus'
// compactor copies the source block's symbol table whole, so a deleted series' label values (an occupant's
// case id) stayed in the block's index file until storage.retention dropped the block.
type pruningCompactor struct {
	*promtsdb.LeveledCompactor
}

// newPruningCompactor is a promtsdb.NewCompactorFunc building the compactor Prometheus would, wrapped.
func newPruningCompactor(ctx context.Context, r prometheus.Registerer, l *slog.Logger, ranges []int64,
	pool chunkenc.Pool, opts *promtsdb.Options) (promtsdb.Compactor, error) {
	enc := opts.FloatChunkEncoding
	c, err := promtsdb.NewLeveledCompactorWithOptions(ctx, r, l, ranges, pool, promtsdb.LeveledCompactorOptions{
		MaxBlockChunkSegmentSize:    opts.MaxBlockChunkSegmentSize,
		EnableOverlappingCompaction: opts.EnableOverlappingCompaction,
		PD:                          opts.PostingsDecoderFactory,
		UseUncachedIO:               opts.UseUncachedIO,
		BlockExcludeFilter:          opts.BlockCompactionExcludeFunc,
		FloatChunkEncoding:          func() chunkenc.Encoding { return enc },
	})
	if err != nil {
		return nil, err
	}
	return pruningCompactor{c}, nil
}

// Write writes b as Prometheus does; a persisted block (the source of CleanTombstones' rewrite, the only
// caller that passes one) is read through an index whose symbol table holds only what its surviving series use.
func (c pruningCompactor) Write(dest string, b promtsdb.BlockReader, mint, maxt int64, base *promtsdb.BlockMeta) ([]ulid.ULID, error) {
	if blk, ok := b.(*promtsdb.Block); ok {
		syms, err := usedSymbols(blk)
		if err != nil {
			return nil, fmt.Errorf("symbols of block %s: %w", blk.Meta().ULID, err)
		}
		b = prunedBlock{BlockReader: blk, syms: syms}
	}
	return c.LeveledCompactor.Write(dest, b, mint, maxt, base)
}

// usedSymbols returns, sorted, the label names and values of b's series that keep a chunk not wholly covered by
// b's tombstones: a superset of what the rewritten block's series use (a chunk partly deleted may lose every
// sample it has), which is all the index writer needs.
func usedSymbols(b promtsdb.BlockReader) ([]string, error) {
	ir, err := b.Index()
	if err != nil {
		return nil, err
	}
	defer ir.Close()
	tr, err := b.Tombstones()
	if err != nil {
		return nil, err
	}
	defer tr.Close()
	ctx := context.Background()
	name, value := index.AllPostingsKey()
	p, err := ir.Postings(ctx, name, value)
	if err != nil {
		return nil, err
	}
	set := map[string]struct{}{}
	var builder labels.ScratchBuilder
	var chks []chunks.Meta
	for p.Next() {
		if err := ir.Series(p.At(), &builder, &chks); err != nil {
			return nil, err
		}
		ivs, err := tr.Get(p.At())
		if err != nil {
			return nil, err
		}
		if !slices.ContainsFunc(chks, func(m chunks.Meta) bool {
			return !(tombstones.Interval{Mint: m.MinTime, Maxt: m.MaxTime}).IsSubrange(ivs)
		}) {
			continue
		}
		builder.Labels().Range(func(l labels.Label) {
			set[l.Name] = struct{}{}
			set[l.Value] = struct{}{}
		})
	}
	if err := p.Err(); err != nil {
		return nil, err
	}
	out := make([]string, 0, len(set))
	for s := range set {
		out = append(out, s)
	}
	slices.Sort(out)
	return out, nil
}

// prunedBlock is a block read with another symbol table.
type prunedBlock struct {
	promtsdb.BlockReader
	syms []string
}

func (b prunedBlock) Index() (promtsdb.IndexReader, error) {
	ir, err := b.BlockReader.Index()
	if err != nil {
		return nil, err
	}
	return prunedIndex{IndexReader: ir, syms: b.syms}, nil
}

type prunedIndex struct {
	promtsdb.IndexReader
	syms []string
}

func (ir prunedIndex) Symbols() index.StringIter { return index.NewStringListIter(ir.syms) }
