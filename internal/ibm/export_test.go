package ibm

// JitteredBackoff is exported for tests of the retry timing.
var JitteredBackoff = jitteredBackoff
