module github.com/s2s-authorizer/s2s-authorizer

go 1.26.0
