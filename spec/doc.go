// Package spec owns Gantry's resource documents: the Listener and TargetGroup
// types, decoding YAML (multi-document) and JSON with the line and column of
// every node (Decode, Load), ALB's defaults applied in one place
// (SetDefaults), effective-value accessors for the data plane, encoding back
// to YAML and JSON, and validation that reports every problem at once with its
// position (Validate, ValidateSet).
//
// It must never do I/O beyond reading the files Load is asked to read, and
// never import another Gantry package: both planes import it.
package spec
