# Generated from src/dupstudy/pipeline.py by `dupstudy dag --write`; do not edit by hand.


rule ingest:
    output:
        **stage_outputs("ingest"),
    log:
        stage_log("ingest"),
    conda:
        "../../envs/data.yaml"
    threads: 2
    params:
        settings=smk_settings(STAGES["ingest"], config),
    shell:
        smk_shell(STAGES["ingest"])


rule dedup:
    input:
        **stage_inputs("dedup"),
    output:
        **stage_outputs("dedup"),
    log:
        stage_log("dedup"),
    conda:
        "../../envs/data.yaml"
    threads: 2
    params:
        settings=smk_settings(STAGES["dedup"], config),
    shell:
        smk_shell(STAGES["dedup"])


rule variant:
    input:
        **stage_inputs("variant"),
    output:
        **stage_outputs("variant"),
    log:
        stage_log("variant"),
    conda:
        "../../envs/data.yaml"
    threads: 1
    params:
        settings=smk_settings(STAGES["variant"], config),
    shell:
        smk_shell(STAGES["variant"])


rule train:
    input:
        **stage_inputs("train"),
    output:
        **stage_outputs("train"),
    log:
        stage_log("train"),
    conda:
        "../../envs/models.yaml"
    threads: 1
    resources:
        gpu=stage_gpus("train"),
    params:
        settings=smk_settings(STAGES["train"], config),
    shell:
        smk_shell(STAGES["train"])


rule evaluate:
    input:
        **stage_inputs("evaluate"),
    output:
        **stage_outputs("evaluate"),
    log:
        stage_log("evaluate"),
    conda:
        "../../envs/models.yaml"
    threads: 1
    resources:
        gpu=stage_gpus("evaluate"),
    params:
        settings=smk_settings(STAGES["evaluate"], config),
    shell:
        smk_shell(STAGES["evaluate"])


rule aggregate:
    input:
        **stage_inputs("aggregate"),
    output:
        **stage_outputs("aggregate"),
    log:
        stage_log("aggregate"),
    conda:
        "../../envs/report.yaml"
    threads: 1
    params:
        settings=smk_settings(STAGES["aggregate"], config),
    shell:
        smk_shell(STAGES["aggregate"])


rule gaussian:
    output:
        **stage_outputs("gaussian"),
    log:
        stage_log("gaussian"),
    conda:
        "../../envs/report.yaml"
    threads: 1
    params:
        settings=smk_settings(STAGES["gaussian"], config),
    shell:
        smk_shell(STAGES["gaussian"])


rule report:
    input:
        **stage_inputs("report"),
    output:
        **stage_outputs("report"),
    log:
        stage_log("report"),
    conda:
        "../../envs/report.yaml"
    threads: 1
    params:
        settings=smk_settings(STAGES["report"], config),
    shell:
        smk_shell(STAGES["report"])
