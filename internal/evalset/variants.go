package evalset

import (
	"net/url"

	"github.com/mnemohq/mnemo"
	"github.com/mnemohq/mnemo/recall"
)

// Variant is recall with one step changed: a default step turned
// off, or an opt-in one turned on (by configuration or by request).
type Variant struct {
	Name   string
	Config func(*recall.Config)
	Params url.Values
}

// Variants are recall's ranking steps, each measured against the
// defaults: the first is the defaults, then each default step off (named
// "- step"), then each opt-in step on ("+ step"). mnemo bench ranking
// runs them all on both sets; TestNoDefaultStepLowersQuality holds the
// default steps to the rule that each helps or is neutral.
var Variants = []Variant{
	{Name: "defaults"},
	{Name: "- vector similarity", Config: func(c *recall.Config) { c.Weights.Vector = 0 }},
	{Name: "- keyword score", Config: func(c *recall.Config) { c.Weights.Keyword = 0 }},
	{Name: "- tag/metadata words", Config: func(c *recall.Config) { c.Weights.Tag = 0 }},
	{Name: "- exact metadata", Config: func(c *recall.Config) { c.Weights.Exact = 0 }},
	{Name: "- importance", Config: func(c *recall.Config) { c.Weights.Importance = 0 }},
	{Name: "- confidence", Config: func(c *recall.Config) { c.Weights.Confidence = 0 }},
	{Name: "- when bonus", Config: func(c *recall.Config) { c.Weights.TimeMention = 0 }},
	{Name: "- neighbours", Config: func(c *recall.Config) { c.ContextWindow = 0 }},
	{Name: "- adaptive floor", Config: func(c *recall.Config) { c.AdaptiveFloor = false }},
	{Name: "+ recency 0.1 (AutoMem)", Config: func(c *recall.Config) { c.Weights.Recency = 0.1 }},
	{Name: "+ recency_bias=auto", Params: url.Values{"recency_bias": {"auto"}}},
	{Name: "+ recency_bias=on", Params: url.Values{"recency_bias": {"on"}}},
	{Name: "+ expand_relations", Params: url.Values{"expand_relations": {"true"}}},
	{Name: "+ expand_entities", Params: url.Values{"expand_entities": {"true"}}},
}

// Recaller is the variant's recall over the defaults, and its request
// parameters.
func (v Variant) Recaller(e mnemo.Embedder) (*recall.Recaller, url.Values) {
	cfg := recall.DefaultConfig
	if v.Config != nil {
		v.Config(&cfg)
	}
	return &recall.Recaller{Config: cfg, Embedder: e}, v.Params
}
