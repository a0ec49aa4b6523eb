module gostatic

go 1.26
