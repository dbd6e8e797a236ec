package kube

import (
	"encoding/json"

	jsonpatch "github.com/evanphx/json-patch/v5"
	"k8s.io/apimachinery/pkg/types"
)

// Patch is a patch to an object.
type Patch interface {
	Type() types.PatchType
	// Data is the patch's body, for obj.
	Data(obj Object) ([]byte, error)
}

type rawPatch struct {
	t    types.PatchType
	data []byte
}

func (p rawPatch) Type() types.PatchType       { return p.t }
func (p rawPatch) Data(Object) ([]byte, error) { return p.data, nil }

// RawPatch is a patch of type t with body data.
func RawPatch(t types.PatchType, data []byte) Patch { return rawPatch{t, data} }

type mergeFrom struct{ from Object }

// MergeFrom is the JSON merge patch that makes from into the object
// patched: what the caller changed in a copy of from.
func MergeFrom(from Object) Patch { return mergeFrom{from} }

func (mergeFrom) Type() types.PatchType { return types.MergePatchType }

func (p mergeFrom) Data(obj Object) ([]byte, error) {
	before, err := json.Marshal(p.from)
	if err != nil {
		return nil, err
	}
	after, err := json.Marshal(obj)
	if err != nil {
		return nil, err
	}
	return jsonpatch.CreateMergePatch(before, after)
}
