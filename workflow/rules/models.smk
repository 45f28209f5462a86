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
