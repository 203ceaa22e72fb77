package v1alpha1

// Condition types and reasons shared by ApiKey and RateLimitPolicy.
const (
	// ConditionReady is True when the object is compiled into the auth
	// server's data and takes effect.
	ConditionReady = "Ready"

	// ReasonCompiled: the object was compiled and is served.
	ReasonCompiled = "Compiled"
	// ReasonSecretConflict: the delivery Secret exists and is not keygate's.
	ReasonSecretConflict = "SecretConflict"
	// ReasonDisabled: spec.disabled is true; every key of the ApiKey is refused.
	ReasonDisabled = "Disabled"
	// ReasonExpired: spec.expiresAt has passed; every key of the ApiKey is refused.
	ReasonExpired = "Expired"
	// ReasonNoValidKey: none of the GitOps hashes is valid any more.
	ReasonNoValidKey = "NoValidKey"
	// ReasonWriteFailed: writing a Secret failed; the controller retries.
	ReasonWriteFailed = "WriteFailed"
	// ReasonReservedNamespace: the object is in keygate's own namespace,
	// where its records live; nothing there is compiled.
	ReasonReservedNamespace = "ReservedNamespace"
)

// AnnotationRotate triggers a rotation of a generated key whenever its value
// changes.
const AnnotationRotate = "keygate.dev/rotate"
