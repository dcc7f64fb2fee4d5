package handlers

import (
	"container/list"
	"crypto/sha256"
	"sync"
)

// recent remembers the last handled (source, id) pairs, so that a redelivered event costs no
// API call. It is bounded in entries and, because it keeps a hash of each pair and not the
// pair, in bytes: a sender's long ids cannot grow it. An old duplicate that fell out only costs
// reads, never a wrong write, because handling is idempotent anyway.
type recent struct {
	mu    sync.Mutex
	size  int
	order *list.List
	index map[dedupHash]*list.Element
}

// dedupHash names a (source, id) pair; SHA-256, so that no sender can make two pairs collide.
type dedupHash [sha256.Size]byte

func newRecent(size int) *recent {
	return &recent{size: size, order: list.New(), index: map[dedupHash]*list.Element{}}
}

func dedupKey(source, id string) dedupHash {
	h := sha256.New()
	h.Write([]byte(source))
	h.Write([]byte{0})
	h.Write([]byte(id))
	var k dedupHash
	h.Sum(k[:0])
	return k
}

func (r *recent) seen(key dedupHash) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if e, ok := r.index[key]; ok {
		r.order.MoveToFront(e)
		return true
	}
	return false
}

func (r *recent) add(key dedupHash) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.index[key]; ok || r.size <= 0 {
		return
	}
	r.index[key] = r.order.PushFront(key)
	for r.order.Len() > r.size {
		oldest := r.order.Back()
		r.order.Remove(oldest)
		delete(r.index, oldest.Value.(dedupHash))
	}
}
