package schemas

// ValidateJSONDecoding is ValidateJSON without its fast path (conforms),
// for FuzzConformsAgrees.
func (r *Registry) ValidateJSONDecoding(eventType, version string, data []byte) error {
	v, err := r.lookup(eventType, version)
	if err != nil {
		return err
	}
	_, err = validateJSON(v.schema, eventType, version, data)
	return err
}
