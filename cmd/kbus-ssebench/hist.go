package main

import (
	"math/bits"
	"sync/atomic"
)

// A histogram of non-negative integers (microseconds here) in log-linear
// buckets, HDR style: every power of two is split into 2^subBits buckets,
// so a recorded value is known to within 1/2^subBits (0.8 %). Values below
// 2^(subBits+1) are exact. It is safe for concurrent use: Record is a few
// atomic adds, and streams are spread over shards so that thousands of
// goroutines do not all hit the same cache lines.
const (
	subBits  = 7
	nBuckets = (64 - subBits) << subBits
	nShards  = 16
)

type shard struct {
	count [nBuckets]atomic.Uint64
	max   atomic.Uint64
	_     [64]byte
}

type histogram struct {
	shards [nShards]shard
}

func bucketOf(v uint64) int {
	shift := bits.Len64(v) - (subBits + 1)
	if shift < 0 {
		shift = 0
	}
	return shift<<subBits + int(v>>uint(shift))
}

// lowerBound is the smallest value in bucket b; upper the largest.
func lowerBound(b int) uint64 {
	if b < 2<<subBits {
		return uint64(b)
	}
	shift := b>>subBits - 1
	return uint64(b-shift<<subBits) << uint(shift)
}

func (h *histogram) Record(sh int, v uint64) {
	s := &h.shards[sh%nShards]
	s.count[bucketOf(v)].Add(1)
	for {
		m := s.max.Load()
		if v <= m || s.max.CompareAndSwap(m, v) {
			return
		}
	}
}

// snapshot sums the shards.
func (h *histogram) snapshot() (counts []uint64, total, max uint64) {
	counts = make([]uint64, nBuckets)
	for i := range h.shards {
		s := &h.shards[i]
		for b := range s.count {
			c := s.count[b].Load()
			counts[b] += c
			total += c
		}
		if m := s.max.Load(); m > max {
			max = m
		}
	}
	return counts, total, max
}

// quantile returns the value at quantile q (0..1) of counts: the midpoint of
// the bucket holding it, capped at max.
func quantile(counts []uint64, total, max uint64, q float64) uint64 {
	if total == 0 {
		return 0
	}
	rank := uint64(q*float64(total) + 0.5)
	if rank < 1 {
		rank = 1
	}
	var seen uint64
	for b, c := range counts {
		seen += c
		if seen >= rank {
			lo := lowerBound(b)
			hi := lowerBound(b+1) - 1
			v := lo + (hi-lo)/2
			if v > max {
				v = max
			}
			return v
		}
	}
	return max
}
