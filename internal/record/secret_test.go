package record

import (
	"testing"
)

func TestNewSecret(t *testing.T) {
	rec := &APIKey{Version: Version, Source: Source{Namespace: "acme", Name: "sdk", UID: "u-1"}, Subject: "acme", Type: "secret", Prefix: "sk_"}
	s, err := NewSecret("keygate-system", KindAPIKey, SourceOf(rec), rec)
	if err != nil {
		t.Fatal(err)
	}
	data, hash, _ := Encode(rec)
	if s.Namespace != "keygate-system" || s.Name != "ak.acme.sdk" || s.Type != SecretType {
		t.Fatalf("name or type: %s/%s %s", s.Namespace, s.Name, s.Type)
	}
	want := map[string]string{LabelManagedBy: ManagedByValue, LabelKind: KindAPIKey, LabelSourceNamespace: "acme", LabelSourceUID: "u-1"}
	for k, v := range want {
		if s.Labels[k] != v {
			t.Errorf("label %s = %q, want %q", k, s.Labels[k], v)
		}
	}
	if s.Annotations[AnnotationSourceName] != "sdk" || s.Annotations[AnnotationDataHash] != hash || string(s.Data[DataKey]) != string(data) {
		t.Errorf("annotations %v or data %q", s.Annotations, s.Data[DataKey])
	}
	back, err := DecodeAPIKey(s.Data[DataKey])
	if err != nil || back.Source.UID != rec.Source.UID || back.Source.Name != "sdk" {
		t.Fatalf("decoded %+v, %v", back, err)
	}
	if src := SourceOf(&RateLimitPolicy{Source: Source{Name: "p"}}); src.Name != "p" {
		t.Errorf("SourceOf a policy: %+v", src)
	}
	if src := SourceOf("x"); src.Name != "" || src.UID != "" {
		t.Errorf("SourceOf a string: %+v", src)
	}
}
