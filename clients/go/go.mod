module vigil

go 1.19
