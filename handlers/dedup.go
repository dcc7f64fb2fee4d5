package handlers

import (
	"container/list"
	"sync"
)

// recent remembers the last handled (source, id) pairs, so that a redelivered event costs no
// API call. It is bounded: an old duplicate that fell out only costs reads, never a wrong write,
// because handling is idempotent anyway.
type recent struct {
	mu    sync.Mutex
	size  int
	order *list.List
	index map[string]*list.Element
}

func newRecent(size int) *recent {
	return &recent{size: size, order: list.New(), index: map[string]*list.Element{}}
}

func dedupKey(source, id string) string { return source + "\x00" + id }

func (r *recent) seen(key string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if e, ok := r.index[key]; ok {
		r.order.MoveToFront(e)
		return true
	}
	return false
}

func (r *recent) add(key string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.index[key]; ok || r.size <= 0 {
		return
	}
	r.index[key] = r.order.PushFront(key)
	for r.order.Len() > r.size {
		oldest := r.order.Back()
		r.order.Remove(oldest)
		delete(r.index, oldest.Value.(string))
	}
}
