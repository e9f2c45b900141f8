package backend

import (
	"bytes"
	"encoding/json"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/fieldgate/fieldgate/models"
)

func modelKey(id, version string) []byte { return []byte(id + "\x00" + version) }

// AddModel validates a model document (JSON or YAML) with models.Decode and
// models.Compile and stores its canonical JSON. A document that is already stored
// identically is fine; different content under an existing id@version is a
// conflict (models are immutable per id@version). Bad documents are bad-request
// errors naming the field.
func (s *Server) AddModel(src []byte) error {
	_, _, err := s.addModel(src)
	return err
}

// addModel returns the model's id@version and whether it was new.
func (s *Server) addModel(src []byte) (ModelInfo, bool, error) {
	doc, err := models.Decode(src)
	if err != nil {
		return ModelInfo{}, false, errorf(CodeBadRequest, err)
	}
	c, err := models.Compile(doc, s.cfg.Binders...)
	if err != nil {
		return ModelInfo{}, false, errorf(CodeBadRequest, err)
	}
	info := ModelInfo{ID: c.ID, Version: c.Version, Manufacturer: doc.Manufacturer, Product: doc.Product}
	created, err := s.putModel(c.ID, c.Version, c.Source)
	return info, created, err
}

// PutRawModel stores src as model id@version without validating it (it must be
// JSON), so tests can serve a model the gateway has to refuse. Immutability holds
// as for AddModel.
func (s *Server) PutRawModel(id, version string, src []byte) error {
	if id == "" || version == "" {
		return newError(CodeBadRequest, fmt.Sprintf("model id and version must not be empty, got %q@%q", id, version))
	}
	if !json.Valid(src) {
		return newError(CodeBadRequest, fmt.Sprintf("model %s@%s: not valid JSON", id, version))
	}
	_, err := s.putModel(id, version, src)
	return err
}

func (s *Server) putModel(id, version string, src []byte) (bool, error) {
	created := false
	err := s.update(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte(bkModels))
		key := modelKey(id, version)
		if old := b.Get(key); old != nil {
			if bytes.Equal(old, src) || s.sameCanonical(old, src) {
				return nil
			}
			return newError(CodeConflict, fmt.Sprintf("model %s@%s already exists with different content (models are immutable per id@version)", id, version))
		}
		created = true
		return b.Put(key, src)
	})
	return created, err
}

// Model returns the stored document of id@version.
func (s *Server) Model(id, version string) ([]byte, bool) {
	var src []byte
	err := s.view(func(tx *bolt.Tx) error {
		if v := tx.Bucket([]byte(bkModels)).Get(modelKey(id, version)); v != nil {
			src = bytes.Clone(v)
		}
		return nil
	})
	if err != nil {
		s.log.Error("model", "id", id, "version", version, "err", err)
	}
	return src, src != nil
}

// sameCanonical reports whether old, compiled by the current models package,
// has the canonical form src: a document stored before the canonical encoding
// changed is still the same model.
func (s *Server) sameCanonical(old, src []byte) bool {
	c, err := models.CompileSource(old, s.cfg.Binders...)
	return err == nil && bytes.Equal(c.Source, src)
}

func modelExists(tx *bolt.Tx, id, version string) bool {
	return tx.Bucket([]byte(bkModels)).Get(modelKey(id, version)) != nil
}

// Models lists the stored models by id and version.
func (s *Server) Models() []ModelInfo {
	var out []ModelInfo
	err := s.view(func(tx *bolt.Tx) error {
		return tx.Bucket([]byte(bkModels)).ForEach(func(k, v []byte) error {
			id, version, _ := bytes.Cut(k, []byte{0})
			info := ModelInfo{ID: string(id), Version: string(version)}
			var head struct {
				Manufacturer string `json:"manufacturer"`
				Product      string `json:"product"`
			}
			if json.Unmarshal(v, &head) == nil { // raw models may be odd; list them anyway
				info.Manufacturer, info.Product = head.Manufacturer, head.Product
			}
			out = append(out, info)
			return nil
		})
	})
	if err != nil {
		s.log.Error("models", "err", err)
	}
	return out
}
