DROP TABLE deals;
DROP TABLE pipeline_stages;
DROP TABLE pipelines;
