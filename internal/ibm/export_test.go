package ibm

// JitteredBackoff is exported for tests of the retry timing.
var JitteredBackoff = jitteredBackoff

// Unwrap gives tests the SDK authenticator inside ours.
func Unwrap(a Authenticator) Authenticator { return a.(opaque).inner }
