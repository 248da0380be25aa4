-- The `engineer` role (workflows/models.py Role): reads complaints' payloads in clear
-- through the codec server and takes no complaint action (workflows/permissions.py).
ALTER TABLE staff DROP CONSTRAINT IF EXISTS staff_role_check;
ALTER TABLE staff ADD CONSTRAINT staff_role_check
    CHECK (role IN ('agent', 'specialist', 'csm', 'team_lead', 'head_of_cs',
                    'finance_manager', 'qa', 'rnd', 'engineer'));
