package embed

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/mnemohq/mnemo"
)

// OpenAI calls an OpenAI-compatible /v1/embeddings endpoint: OpenAI itself,
// Ollama, vLLM, TEI, LM Studio and others.
type OpenAI struct {
	BaseURL string // e.g. https://api.openai.com/v1
	APIKey  string
	ModelID string
	dim     int
	Client  *http.Client
}

var _ mnemo.Embedder = (*OpenAI)(nil)

// NewOpenAI returns an embedder for baseURL (with or without a trailing /v1).
func NewOpenAI(baseURL, apiKey, model string, dim int) *OpenAI {
	return &OpenAI{BaseURL: strings.TrimRight(baseURL, "/"), APIKey: apiKey, ModelID: model, dim: dim,
		Client: &http.Client{Timeout: 30 * time.Second}}
}

// Model names the remote model.
func (o *OpenAI) Model() string { return "openai:" + o.ModelID + ":" + fmt.Sprint(o.dim) }

// Dim returns the configured dimension.
func (o *OpenAI) Dim() int { return o.dim }

// Waits reports that a call waits on the network rather than using this
// process's CPU, so the service runs it outside the tenant's turn.
func (o *OpenAI) Waits() bool { return true }

// Embed sends one request for all texts. A wrong dimension is an error: a
// made-up vector would pollute search.
func (o *OpenAI) Embed(ctx context.Context, texts []string) ([][]float32, error) {
	req := map[string]any{"model": o.ModelID, "input": texts}
	// Only OpenAI's own API accepts "dimensions"; others reject or ignore it.
	if u, err := url.Parse(o.BaseURL); err == nil && u.Host == "api.openai.com" {
		req["dimensions"] = o.dim
	}
	body, _ := json.Marshal(req)
	endpoint := o.BaseURL + "/embeddings"
	if !strings.HasSuffix(o.BaseURL, "/v1") {
		endpoint = o.BaseURL + "/v1/embeddings"
	}
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	hr.Header.Set("Content-Type", "application/json")
	if o.APIKey != "" {
		hr.Header.Set("Authorization", "Bearer "+o.APIKey)
	}
	resp, err := o.Client.Do(hr)
	if err != nil {
		return nil, fmt.Errorf("embeddings request: %w", err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, fmt.Errorf("embeddings response: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("embeddings endpoint answered %d: %.200s", resp.StatusCode, raw)
	}
	var out struct {
		Data []struct {
			Index     int       `json:"index"`
			Embedding []float32 `json:"embedding"`
		} `json:"data"`
	}
	if err := json.Unmarshal(raw, &out); err != nil {
		return nil, fmt.Errorf("embeddings response: %w", err)
	}
	if len(out.Data) != len(texts) {
		return nil, fmt.Errorf("embeddings endpoint returned %d vectors for %d texts", len(out.Data), len(texts))
	}
	vecs := make([][]float32, len(texts))
	for _, d := range out.Data {
		if d.Index < 0 || d.Index >= len(texts) || vecs[d.Index] != nil {
			return nil, fmt.Errorf("embeddings endpoint returned a bad index %d", d.Index)
		}
		if len(d.Embedding) != o.dim {
			return nil, fmt.Errorf("embeddings endpoint returned %d dimensions, VECTOR_SIZE is %d", len(d.Embedding), o.dim)
		}
		vecs[d.Index] = d.Embedding
	}
	return vecs, nil
}
