package rules

import (
	"bytes"
	"math"
)

// trie is a byte trie of literal keys; each node lists, in ascending rank,
// the rules filed under the key that ends there. A walk along an input visits
// the nodes of every key that is a prefix of it (of the reversed input for
// the host-suffix index). Nodes live in one slice; node 0 is the root (key "").
type trie struct {
	nodes []trieNode
}

type trieNode struct {
	keys  []byte  // edge labels, unordered (bytes.IndexByte finds one)
	next  []int32 // child node of keys[i]
	rules []int32 // ascending ranks
}

// child returns the node under edge c, or -1. Most nodes have a few edges,
// where a plain loop beats the call to bytes.IndexByte.
func (n *trieNode) child(c byte) int32 {
	if len(n.keys) <= 8 {
		for j, k := range n.keys {
			if k == c {
				return n.next[j]
			}
		}
		return -1
	}
	if j := bytes.IndexByte(n.keys, c); j >= 0 {
		return n.next[j]
	}
	return -1
}

// insert files rank under key, read backwards when reverse is set. Ranks
// must be inserted in ascending order.
func (t *trie) insert(key string, reverse bool, rank int32) {
	if len(t.nodes) == 0 {
		t.nodes = append(t.nodes, trieNode{})
	}
	n := int32(0)
	for i := range len(key) {
		c := key[i]
		if reverse {
			c = key[len(key)-1-i]
		}
		child := int32(-1)
		for j, k := range t.nodes[n].keys {
			if k == c {
				child = t.nodes[n].next[j]
				break
			}
		}
		if child < 0 {
			child = int32(len(t.nodes))
			t.nodes = append(t.nodes, trieNode{})
			t.nodes[n].keys = append(t.nodes[n].keys, c)
			t.nodes[n].next = append(t.nodes[n].next, child)
		}
		n = child
	}
	t.nodes[n].rules = appendRank(t.nodes[n].rules, rank)
}

// appendRank appends rank unless it is already last (a rule whose patterns
// share a key is filed once).
func appendRank(list []int32, rank int32) []int32 {
	if len(list) > 0 && list[len(list)-1] == rank {
		return list
	}
	return append(list, rank)
}

// indexKey is where one pattern of a rule could be filed.
type indexKey struct {
	kind uint8 // keyExact, keySuffix or keyPrefix
	key  string
}

const (
	keyExact  uint8 = iota // exact host map, lower case
	keySuffix              // host-suffix trie: literal after the last wildcard
	keyPrefix              // path-prefix trie: literal before the first wildcard
)

// hostKeys returns the keys of a rule's host list, or nil when one of its
// patterns has no literal to file it under (such as "*" or "a.*"): the OR of
// the list is only narrowed when every pattern is.
func hostKeys(ps []pattern) []indexKey {
	keys := make([]indexKey, 0, len(ps))
	for i := range ps {
		p := &ps[i]
		switch {
		case !p.hasWildcard() && len(p.src) <= maxExactHost:
			keys = append(keys, indexKey{keyExact, p.src})
		case p.literalSuffix() != "":
			keys = append(keys, indexKey{keySuffix, p.literalSuffix()})
		default:
			return nil
		}
	}
	return keys
}

// pathKeys returns the keys of a rule's path list; every path pattern has
// one, though "" and "/" narrow nothing.
func pathKeys(ps []pattern) []indexKey {
	keys := make([]indexKey, 0, len(ps))
	for i := range ps {
		keys = append(keys, indexKey{keyPrefix, ps[i].literalPrefix()})
	}
	return keys
}

// buildIndex files every rule in one index. A rule is reached through any of
// its host keys or through any of its path keys, so filing it under either
// list is correct; the choice only affects speed. The heuristic counts how
// many rules could share each key and files a rule where its most crowded key
// is least crowded (ties go to the host, whose exact map is a single lookup).
// Rules without host or path conditions go to the residual list, which every
// request scans (only until the best match so far, though).
func (t *Table) buildIndex() {
	hosts := make([][]indexKey, len(t.rules))
	paths := make([][]indexKey, len(t.rules))
	count := map[indexKey]int{}
	for i := range t.rules {
		if len(t.rules[i].hosts) > 0 {
			hosts[i] = hostKeys(t.rules[i].hosts)
		}
		if len(t.rules[i].paths) > 0 {
			paths[i] = pathKeys(t.rules[i].paths)
		}
		for _, k := range hosts[i] {
			count[k]++
		}
		for _, k := range paths[i] {
			count[k]++
		}
	}
	crowd := func(keys []indexKey) int {
		if len(keys) == 0 {
			return math.MaxInt
		}
		n := 0
		for _, k := range keys {
			n = max(n, count[k])
		}
		return n
	}
	t.exact = map[string][]int32{}
	for i := range t.rules {
		rank := int32(i)
		keys := hosts[i]
		if crowd(paths[i]) < crowd(keys) {
			keys = paths[i]
		}
		if len(keys) == 0 {
			t.residual = append(t.residual, rank)
			continue
		}
		for _, k := range keys {
			switch k.kind {
			case keyExact:
				t.exact[k.key] = appendRank(t.exact[k.key], rank)
			case keySuffix:
				t.suffix.insert(k.key, true, rank)
			case keyPrefix:
				t.prefix.insert(k.key, false, rank)
			}
		}
	}
}
