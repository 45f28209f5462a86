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
    params:
        settings=smk_settings(STAGES["variant"], config),
    shell:
        smk_shell(STAGES["variant"])
