module cytomine-fallback/task-pods

go 1.26
